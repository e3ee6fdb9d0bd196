"""Options shared by the commands that walk source trees (`rewrite`, `audit`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def tree_options(fn: F) -> F:
    """`--include`, `--exclude` and `-j/--jobs`, with the same meaning for every command."""
    options = [
        click.option("--include", multiple=True, metavar="GLOB", help="Only paths matching GLOB."),
        click.option("--exclude", multiple=True, metavar="GLOB", help="Skip paths matching GLOB."),
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(min=1),
            default=None,
            help="Worker processes (default: all cores).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def max_bytes_option(what: str) -> Callable[[F], F]:
    """`--max-bytes N`: files of legacy code larger than N are reported, not `what`."""
    return click.option(
        "--max-bytes",
        type=click.IntRange(min=1),
        default=None,
        help=f"Report files larger than this instead of {what} them (default 1000000; a "
        "notebook counts its code cells).",
    )
