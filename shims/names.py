"""Map any legacy metric, tag or param name to one MLflow accepts, deterministically.

MLflow (3.x) accepts names matching `^[/\\w.\\- :]*$` (fully: no trailing newline) (unicode word
characters), at most 250 characters, equal to their `posixpath.normpath`, not `.`, not starting with
`/` or `..`, not empty. Azure ML accepted nearly anything, so names such as `Accuracy (%)`, `prec@1`
or `f1,macro` are common in legacy code. `mlflow_name` is pure and stable: the same input always
gives the same output, so the codemod, the audit and the shim agree on what a metric will be called.

`artifact_path` does the same for artifact names (`upload_file`, `log_image`, ...): a safe path
inside the run's artifacts that MLflow can read back, or `UserErrorException` naming the bad name.
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
        and name != "."
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


# --- artifact names ------------------------------------------------------------------------------
# Azure ML stored artifacts as blobs named after the v1 name; MLflow stores them as files under the
# run's artifact folder, read back through URIs. A legacy name therefore becomes a run-relative posix
# path that can neither leave that folder nor be unreadable afterwards.

MAX_ARTIFACT_LEN = 1024  # Azure's blob name limit: no legacy job stored a longer name
MAX_SEGMENT_BYTES = 200  # file systems allow 255 bytes per file name: room for suffixes
RESERVED_PREFIX = ".artifact.uploading."  # MLflow's local store keeps this prefix for itself
# Characters MLflow cannot read back (its artifact URIs drop or split on them) and lone surrogates
# (undecodable file names, which are not UTF-8): each becomes "_".
_UNREADABLE = re.compile(r"[\x00-\x1f\x7f#?\ud800-\udfff]|%(?=[0-9A-Fa-f]{2})")
_DRIVE = re.compile(r"[A-Za-z]:")


def shown(text: str, limit: int = 120) -> str:
    """`text` quoted for a message, cut when it is long."""
    quoted = repr(text)
    if len(quoted) <= limit:
        return quoted
    return f"{text[: limit // 2]!r}... ({len(text)} characters)"


def _fit_segment(seg: str) -> str:
    """`seg` within MAX_SEGMENT_BYTES of UTF-8, its extension kept and a digest of the whole added."""
    data = seg.encode("utf-8")
    if len(data) <= MAX_SEGMENT_BYTES:
        return seg
    digest = hashlib.sha1(data).hexdigest()[:8]
    dot = seg.rfind(".")
    ext = seg[dot:] if dot > 0 and len(seg) - dot <= 16 else ""
    room = MAX_SEGMENT_BYTES - len(ext.encode("utf-8")) - len(digest) - 1
    stem = seg[: len(seg) - len(ext)].encode("utf-8")[:room].decode("utf-8", "ignore")
    return f"{stem}-{digest}{ext}"


def _clean_segments(segments: list[str], why: list[str]) -> list[str]:
    out = []
    for seg in segments:
        clean = _UNREADABLE.sub("_", seg)
        if clean != seg:
            _add(why, "characters MLflow cannot read back (control characters, '#', '?', '%xx') "
                 "replaced by '_'")  # fmt: skip
        if clean.startswith(RESERVED_PREFIX):
            clean = "_" + clean
            _add(why, f"'_' added before {RESERVED_PREFIX!r}, a prefix MLflow reserves")
        fitted = _fit_segment(clean)
        if fitted != clean:
            _add(why, f"file or folder name cut to {MAX_SEGMENT_BYTES} bytes, a digest added")
        out.append(fitted)
    if len(out) > 1 and out[0].startswith(".."):  # MLflow refuses folders starting with ".."
        out[0] = "_" + out[0]
        _add(why, "'_' added before a leading '..'")
    return out


def _add(why: list[str], reason: str) -> None:
    if reason not in why:
        why.append(reason)


def artifact_path(name: object, what: str = "name", suffix: str = "") -> tuple[str, list[str]]:
    """A legacy artifact name as a safe run-relative posix path, and why it differs from `name`.

    `\\` separates folders (Windows habits), a leading `/` or drive is dropped, `.` and `..` are
    resolved, characters MLflow cannot read back become `_` and over-long file names are cut with a
    digest. `suffix` (an extension the API adds, such as `.png`) is added to the file name before
    it is cut. Raises `UserErrorException` for a name that is empty, climbs above the run's
    artifact folder with `..`, or is longer than 1024 characters (Azure's own limit).

    >>> artifact_path("/etc/passwd")
    ('etc/passwd', ["leading '/' dropped"])
    """
    from shims.errors import UserErrorException

    text = name if isinstance(name, str) else str(name)
    why: list[str] = []
    if not text.strip():
        raise UserErrorException(
            f"The artifact {what} {shown(text)} is empty: give a file name relative to the run's "
            "artifacts, such as 'outputs/model.pkl'."
        )
    path = text
    if "\\" in path:
        path = path.replace("\\", "/")
        _add(why, "'\\' read as '/'")
    raw = path.split("/")
    if len(raw) > 1 and raw[0] == "":
        _add(why, "leading '/' dropped")
    elif len(raw) > 1 and _DRIVE.fullmatch(raw[0]):
        raw[0] = ""
        _add(why, "drive letter dropped")
    segments: list[str] = []
    for i, seg in enumerate(raw):
        if seg in ("", "."):
            if seg == "." or 0 < i < len(raw) - 1:
                _add(why, "'.' and empty folder names dropped")
            continue
        if seg == "..":
            if not segments:
                inside = "/".join(s for s in raw if s not in ("", ".", ".."))
                hint = (
                    f": use a name relative to the run, such as {shown(inside)}" if inside else ""
                )
                raise UserErrorException(
                    f"The artifact {what} {shown(text)} points outside the run's artifacts "
                    f"('..' above its folder){hint}."
                )
            segments.pop()
            _add(why, "'..' resolved")
            continue
        segments.append(seg)
    if not segments:
        raise UserErrorException(
            f"The artifact {what} {shown(text)} names no file (it resolves to the run's artifact "
            "folder itself): give a file name such as 'outputs/model.pkl'."
        )
    segments[-1] += suffix
    result = "/".join(_clean_segments(segments, why))
    if len(result) > MAX_ARTIFACT_LEN:
        raise UserErrorException(
            f"The artifact {what} {shown(text)} is {len(result)} characters long; artifact names "
            f"are limited to {MAX_ARTIFACT_LEN} characters (as they were on Azure ML)."
        )
    return result, why


def safe_path(path: str) -> str:
    """`path` (built by the shim from a safe name) made storable: the cleaning of `artifact_path`
    without its checks. Idempotent, and the identity on a path `artifact_path` returned."""
    segments = [s for s in path.replace("\\", "/").split("/") if s not in ("", ".", "..")]
    return "/".join(_clean_segments(segments, [])) or "unnamed"
