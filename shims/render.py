"""Draw the charts Azure ML drew for its JSON metric kinds, as PNG bytes (matplotlib, Agg).

Azure ML's studio rendered `log_confusion_matrix`, `log_accuracy_table`, `log_predictions` and
`log_residuals` values as charts; MLflow has no such metric kinds, so the shim stores the JSON and a
picture beside it. Only matplotlib's object API is used (no pyplot), so rendering touches no global
figure state of the user's script and needs no display.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

Data = dict[str, Any]


def _figure(width: float = 5.0, height: float = 4.0) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def confusion_matrix(name: str, data: Data) -> bytes:
    labels = [str(x) for x in data["class_labels"]]
    matrix = [[float(v) for v in row] for row in data["matrix"]]
    if len(matrix) != len(labels) or any(len(r) != len(labels) for r in matrix):
        raise ValueError("matrix is not square with one row per class label")
    size = max(3.0, 0.6 * len(labels) + 2)
    fig = _figure(size + 1, size)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    top = max((v for row in matrix for v in row), default=0.0)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            text = f"{v:g}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                color="white" if top and v > top / 2 else "black",
            )
    ax.set_title(name)
    return _png(fig)


def accuracy_table(name: str, data: Data) -> bytes:
    labels = [str(x) for x in data["class_labels"]]
    tables = data["probability_tables"]
    if len(tables) != len(labels):
        raise ValueError("probability_tables needs one table per class label")
    fig = _figure(9, 4)
    roc, pr = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for label, table in zip(labels, tables):
        fpr, tpr, prec, rec = [], [], [], []
        for tp, fp, tn, fn in table:
            tpr.append(tp / (tp + fn) if tp + fn else 0.0)
            fpr.append(fp / (fp + tn) if fp + tn else 0.0)
            prec.append(tp / (tp + fp) if tp + fp else 1.0)
            rec.append(tp / (tp + fn) if tp + fn else 0.0)
        roc.plot(fpr, tpr, label=label)
        pr.plot(rec, prec, label=label)
    roc.plot([0, 1], [0, 1], linestyle="--", color="grey")
    roc.set(xlabel="False positive rate", ylabel="True positive rate", title=f"{name}: ROC")
    pr.set(xlabel="Recall", ylabel="Precision", title=f"{name}: precision-recall")
    roc.legend(fontsize="small")
    return _png(fig)


def predictions(name: str, data: Data) -> bytes:
    edges = [float(x) for x in data["bin_edges"]]
    averages = [float(x) for x in data["bin_averages"]]
    errors = [float(x) for x in data.get("bin_errors", [0.0] * len(averages))]
    if len(edges) != len(averages) + 1:
        raise ValueError("bin_edges needs one more value than bin_averages")
    centres = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    fig = _figure()
    ax = fig.add_subplot()
    ax.errorbar(centres, averages, yerr=errors, fmt="o", label="mean predicted")
    ax.plot(
        [edges[0], edges[-1]], [edges[0], edges[-1]], linestyle="--", color="grey", label="ideal"
    )
    ax.set(xlabel="True value (bin)", ylabel="Predicted value", title=name)
    ax.legend(fontsize="small")
    return _png(fig)


def residuals(name: str, data: Data) -> bytes:
    edges = [float(x) for x in data["bin_edges"]]
    counts = [float(x) for x in data["bin_counts"]]
    if len(edges) != len(counts) + 1:
        raise ValueError("bin_edges needs one more value than bin_counts")
    widths = [b - a for a, b in zip(edges, edges[1:])]
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(edges[:-1], counts, width=widths, align="edge", edgecolor="black")
    ax.set(xlabel="Residual", ylabel="Count", title=name)
    return _png(fig)


RENDERERS: dict[str, Callable[[str, Data], bytes]] = {
    "confusion_matrix": confusion_matrix,
    "accuracy_table": accuracy_table,
    "predictions": predictions,
    "residuals": residuals,
}


def render(kind: str, name: str, value: Any) -> tuple[bytes | None, str]:
    """Render `value` (the parsed JSON) as Azure drew a metric of `kind`.

    Returns (png, "") or (None, why-not). Azure accepted any JSON without a schema check, so a value
    that does not follow the documented schema is kept as JSON only, and the reason is reported.
    """
    data = value.get("data") if isinstance(value, dict) and "data" in value else value
    if not isinstance(data, dict):
        return None, f"not rendered: the value is not a {kind} object"
    try:
        return RENDERERS[kind](name, data), ""
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        return None, f"not rendered: {what}"
