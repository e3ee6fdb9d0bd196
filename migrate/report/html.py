"""The HTML report: one self-contained page to hand to a team lead (no network, no external file).

It holds the summary, a chart of findings by API and fidelity (drawn with matplotlib's Agg canvas,
embedded as a base64 PNG; left out with a note when matplotlib is not installed), the per-root and
per-API figures, and one table of every finding that sorts by clicking a header and filters by text
and fidelity, with a few lines of inline JavaScript. The view can also be set from the address:
`report.html#fidelity=manual&filter=outputs&sort=1&desc=1` (sort = a column number).

Everything taken from source code (excerpts, replacements, paths, reasons quoting names) is
HTML-escaped, so an excerpt holding `</script>` is text; as a second line of defence a Content
Security Policy lets only this page's own script run (by its hash) and loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io

from migrate.audit import TOOL_NAME, AuditReport, Summary
from migrate.report._util import cell_note, error_where, percent, shown_path

_COLOURS = {"exact": "#2e7d32", "lossy": "#e0a100", "manual": "#c62828"}
_RANK = {"exact": 0, "lossy": 1, "manual": 2}
MAX_CHART_APIS = 25

_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("findings");
  if (!table) { return; }
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  var rows = Array.prototype.slice.call(body.rows);
  var filter = document.getElementById("filter");
  var fidelity = document.getElementById("fidelity");
  var shown = document.getElementById("shown");
  var sortKey = -1, sortDesc = false;
  function apply() {
    var needle = filter.value.toLowerCase(), want = fidelity.value, n = 0;
    rows.forEach(function (row) {
      var ok = (!want || row.getAttribute("data-fidelity") === want) &&
        (!needle || row.textContent.toLowerCase().indexOf(needle) !== -1);
      row.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + rows.length + " findings shown";
  }
  function value(row, key) {
    var cell = row.cells[key], v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent : v;
  }
  function sortBy(key, desc) {
    if (!(key >= 0 && key < heads.length)) { return; }
    var numeric = heads[key].getAttribute("data-type") === "number";
    rows.sort(function (a, b) {
      var x = value(a, key), y = value(b, key);
      var c = numeric ? Number(x) - Number(y) : (x < y ? -1 : x > y ? 1 : 0);
      return desc ? -c : c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(heads, function (th, i) {
      th.setAttribute("aria-sort", i === key ? (desc ? "descending" : "ascending") : "none");
    });
    sortKey = key; sortDesc = desc;
  }
  Array.prototype.forEach.call(heads, function (th, i) {
    th.addEventListener("click", function () { sortBy(i, sortKey === i ? !sortDesc : false); });
  });
  filter.addEventListener("input", apply);
  fidelity.addEventListener("change", apply);
  var params = new URLSearchParams(location.hash.slice(1));
  if (params.get("fidelity")) { fidelity.value = params.get("fidelity"); }
  if (params.get("filter")) { filter.value = params.get("filter"); }
  if (params.get("sort") !== null) { sortBy(Number(params.get("sort")), params.get("desc") === "1"); }
  document.body.setAttribute("data-ready", "1");
  apply();
})();
"""

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1b1b1b; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
.meta { color: #555; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .6rem 1rem; min-width: 8rem; }
.card b { display: block; font-size: 1.4rem; }
.exact { color: #2e7d32; } .lossy { color: #9a6d00; } .manual { color: #c62828; }
table { border-collapse: collapse; margin: .6rem 0 1.4rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
#findings th { cursor: pointer; user-select: none; }
#findings th[aria-sort=ascending]::after { content: " \\25B2"; }
#findings th[aria-sort=descending]::after { content: " \\25BC"; }
td.num, th.num { text-align: right; }
code { font: 12px/1.35 ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; }
.controls { display: flex; gap: .8rem; align-items: center; }
.reason { max-width: 36rem; }
img.chart { max-width: 100%; border: 1px solid #eee; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def chart_png(summary: Summary) -> bytes | None:
    """Findings by API (the most frequent first), stacked by fidelity; None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    items = list(summary.by_api.items())[:MAX_CHART_APIS]
    if not items:
        return None
    figure = Figure(figsize=(8.5, 1.3 + 0.32 * len(items)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(items)))
    left = [0] * len(items)
    for fidelity in ("exact", "lossy", "manual"):
        values = [getattr(counts, fidelity) for _, counts in items]
        axes.barh(positions, values, left=left, color=_COLOURS[fidelity], label=fidelity)
        left = [a + b for a, b in zip(left, values)]
    axes.set_yticks(positions)
    axes.set_yticklabels([api.replace("$", r"\$") for api, _ in items], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("findings")
    axes.legend(loc="lower right", fontsize=8)
    title = "Findings by API and fidelity"
    if len(summary.by_api) > len(items):
        title += f" (the {len(items)} most frequent of {len(summary.by_api)})"
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _cards(s: Summary) -> str:
    c = s.findings
    cards = [
        ("files scanned", s.files_scanned, ""),
        ("with findings", s.files_with_findings, ""),
        ("could not be audited", s.files_with_errors, ""),
        ("exact", c.exact, "exact"),
        ("lossy", c.lossy, "lossy"),
        ("manual", c.manual, "manual"),
        ("convertible without a person", percent(s.convertible_share), ""),
    ]
    if s.suppressed:
        cards.append(("suppressed by # aml2mlflow: ignore", s.suppressed, ""))
    return "".join(
        f'<div class="card"><b class="{cls}">{_e(value)}</b>{_e(label)}</div>'
        for label, value, cls in cards
    )


def _counts_row(label: str, s: Summary) -> str:
    c = s.findings
    return (
        f"<tr><td><code>{_e(label)}</code></td><td class=num>{s.files_scanned}</td>"
        f"<td class=num>{s.files_with_findings}</td><td class=num>{s.files_with_errors}</td>"
        f"<td class=num>{c.exact}</td><td class=num>{c.lossy}</td><td class=num>{c.manual}</td>"
        f"<td class=num>{_e(percent(s.convertible_share))}</td></tr>"
    )


def render(report: AuditReport) -> str:
    """The HTML page."""
    s = report.summary()
    parts: list[str] = [
        f"<h1>{TOOL_NAME} audit</h1>",
        f'<p class="meta">Roots: {", ".join(f"<code>{_e(r)}</code>" for r in report.roots)} · '
        f"{TOOL_NAME} {_e(report.version)}</p>",
        f'<div class="cards" id="summary">{_cards(s)}</div>',
        "<p>Fidelity: <b class=exact>exact</b> nothing is lost; <b class=lossy>lossy</b> converted, "
        "something changes (the reason says what); <b class=manual>manual</b> a person must "
        "decide.</p>",
    ]
    png = chart_png(s)
    if png is not None:
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<img class="chart" id="chart" alt="Findings by API and fidelity" '
            f'src="data:image/png;base64,{data}">'
        )
    elif s.by_api:
        parts.append("<p><i>Chart left out: matplotlib is not installed.</i></p>")
    if len(report.roots) > 1:
        parts.append(
            '<h2>Per root</h2><table id="roots"><thead><tr><th>root</th><th class=num>files</th>'
            "<th class=num>with findings</th><th class=num>errors</th><th class=num>exact</th>"
            "<th class=num>lossy</th><th class=num>manual</th><th class=num>convertible</th>"
            "</tr></thead><tbody>"
            + "".join(_counts_row(root, rs) for root, rs in report.per_root())
            + "</tbody></table>"
        )
    if s.by_api:
        rows = "".join(
            f"<tr><td><code>{_e(api)}</code></td><td class=num>{c.exact}</td>"
            f"<td class=num>{c.lossy}</td><td class=num>{c.manual}</td>"
            f"<td class=num>{c.total}</td></tr>"
            for api, c in s.by_api.items()
        )
        parts.append(
            '<h2>By API</h2><table id="apis"><thead><tr><th>API</th><th class=num>exact</th>'
            "<th class=num>lossy</th><th class=num>manual</th><th class=num>total</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    parts.append(_findings(report))
    errors = report.errors
    if errors:
        rows = "".join(
            f"<tr><td><code>{_e(shown_path(e.root, e.path))}</code></td>"
            f"<td>{_e(error_where(e, ''))}</td>"
            f"<td>{_e(e.message)}</td></tr>"
            for e in errors
        )
        parts.append(
            '<h2>Could not be audited</h2><table id="errors"><thead><tr><th>file</th><th>line</th>'
            f"<th>problem</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    policy = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{TOOL_NAME} audit</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + f"\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _findings(report: AuditReport) -> str:
    findings = report.findings
    if not findings:
        return "<h2>Findings</h2><p>No legacy call sites found.</p>"
    rows: list[str] = []
    for f in findings:
        place = shown_path(f.root, f.path)
        key = f"{place}\t{f.cell or 0:06d}{f.line:08d}{f.column:06d}"
        becomes = f"<code>{_e(f.replacement)}</code>" if f.replacement else "—"
        rows.append(
            f'<tr data-fidelity="{_e(f.fidelity)}" data-rule="{_e(f.rule)}">'
            f'<td data-sort="{_e(key)}"><code>{_e(place)}</code></td>'
            f'<td class=num data-sort="{f.line}">{_e(cell_note(f))}{f.line}:{f.column}</td>'
            f"<td><code>{_e(f.api)}</code></td>"
            f'<td data-sort="{_RANK[f.fidelity]}" class="{_e(f.fidelity)}">{_e(f.fidelity)}</td>'
            f"<td><code>{_e(f.excerpt)}</code></td><td>{becomes}</td>"
            f'<td class="reason">{_e(f.reason)}</td><td><code>{_e(f.rule)}</code></td></tr>'
        )
    options = "".join(f'<option value="{v}">{v}</option>' for v in ("exact", "lossy", "manual"))
    return (
        "<h2>Findings</h2>"
        '<div class="controls"><label>Filter <input id="filter" type="search" '
        'placeholder="text in any column"></label>'
        f'<label>Fidelity <select id="fidelity"><option value="">all</option>{options}</select>'
        f'</label><span id="shown">{len(findings)} findings</span></div>'
        '<table id="findings"><thead><tr><th>file</th><th class=num data-type="number">line</th>'
        '<th>API</th><th data-type="number">fidelity</th><th>code</th><th>becomes</th>'
        "<th>why</th><th>rule</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
