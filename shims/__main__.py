"""`python -m shims script.py args...`: run a legacy script unchanged, logging to MLflow.

The script sees the argv, `__name__ == "__main__"`, `sys.path[0]`, exit code and traceback it would
see under plain `python script.py`; `python -m shims -m package.module args...` runs a module the same
way. The run ends FAILED when the script raises, KILLED on SIGTERM, FINISHED otherwise.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback
from types import TracebackType

USAGE = "usage: python -m shims [--force] script.py [args...] | -m module [args...]"


def _trim(tb: TracebackType | None) -> TracebackType | None:
    """Drop the runner's own frames so the traceback starts in the user's code, as with python."""
    here = {__file__, runpy.__file__, "<frozen runpy>"}
    while tb is not None and tb.tb_frame.f_code.co_filename in here:
        tb = tb.tb_next
    return tb


def run(argv: list[str]) -> int:
    """Run `argv` (`[script, *args]` or `["-m", module, *args]`) under the shim; return the exit code."""
    from shims import session as session_module
    from shims.conversions import quiet
    from shims.hook import install

    force = False
    while argv and argv[0] == "--force":
        force, argv = True, argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2 if not argv else 0
    install(force=force)
    as_module = argv[0] == "-m"
    if as_module:
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        target, args = argv[1], argv[2:]
        sys.argv = [target, *args]
        sys.path.insert(0, os.getcwd())
    else:
        target, args = argv[0], argv[1:]
        if not os.path.exists(target):
            print(
                f"{sys.executable}: can't open file {os.path.abspath(target)!r}: "
                "[Errno 2] No such file or directory",
                file=sys.stderr,
            )
            return 2
        sys.argv = [target, *args]
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
    code = 0
    try:
        if as_module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc)
        current = session_module.current()
        if code != 0 and current is not None:
            current.failure = exc
    except BaseException as exc:  # the script failed: report it exactly as python would
        current = session_module.current()
        if current is not None:
            current.failure = exc
        traceback.print_exception(type(exc), exc, _trim(exc.__traceback__))
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
    sys.stdout.flush()
    current = session_module.current()
    if current is not None:
        current.close()
        if not quiet():
            print(current.where_to_look(), file=sys.stderr)
    return code


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
