"""Map any legacy metric, tag or param name to one MLflow accepts, deterministically.

MLflow (3.x) accepts names matching `^[/\\w.\\- :]*$` (fully: no trailing newline) (unicode word characters), at most 250
characters, equal to their `posixpath.normpath`, not starting with `/` or `..`, not empty. Azure ML
accepted nearly anything, so names such as `Accuracy (%)`, `prec@1` or `f1,macro` are common in
legacy code. `mlflow_name` is pure and stable: the same input always gives the same output, so the
codemod, the audit and the shim agree on what a metric will be called.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

MAX_LEN = 250
_VALID = re.compile(r"[/\w.\- :]*")
# Symbols with a conventional reading keep that meaning; anything else becomes "_".
_WORDS = {"%": "pct", "@": "_at_", "#": "num", "+": "plus", "=": "_eq_", "&": "_and_", "*": "x"}
_DROP = set("()[]{}'\"`")
_BAD = re.compile(r"[^/\w.\- :]")


def is_valid(name: str) -> bool:
    """Whether MLflow accepts `name` unchanged as a metric, param or tag key."""
    return (
        bool(name)
        and len(name) <= MAX_LEN
        and _VALID.fullmatch(name) is not None
        and _normpath(name) == name
        and not name.startswith(("/", ".."))
    )


def _normpath(name: str) -> str:
    import posixpath

    return posixpath.normpath(name)


@lru_cache(maxsize=65536)
def mlflow_name(name: object) -> str:
    """Return `name` as MLflow will store it (itself when already valid).

    >>> mlflow_name("Accuracy (%)"), mlflow_name("prec@1"), mlflow_name("f1,macro")
    ('Accuracy pct', 'prec_at_1', 'f1_macro')
    """
    text = name if isinstance(name, str) else str(name)
    if is_valid(text):
        return text
    out = []
    for ch in text:
        if _VALID.fullmatch(ch):
            out.append(ch)
        elif ch in _DROP:
            continue
        elif ch in _WORDS:
            out.append(_WORDS[ch])
        else:
            out.append("_")
    cleaned = re.sub(r"_{2,}", "_", "".join(out))
    cleaned = re.sub(r" {2,}", " ", cleaned)
    # Path rules: no empty, "." or ".." segments, no leading or trailing "/".
    segments = []
    for seg in cleaned.split("/"):
        seg = seg.strip()
        if seg in ("", "."):
            continue
        segments.append("__" if seg == ".." else seg)
    cleaned = "/".join(segments) or "unnamed"
    if len(cleaned) > MAX_LEN:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = cleaned[: MAX_LEN - 9].rstrip("/") + "-" + digest
    if not is_valid(cleaned):  # e.g. a leading ".." that survived; never expected
        cleaned = "m_" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return cleaned
