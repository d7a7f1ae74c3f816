"""Logging and progress bars for long loops (rich), silenced by ``--quiet``.

Use ``track(iterable, total=..., description=...)`` for a loop, or ``bar(total, description)`` as a context
manager yielding ``advance(n=1, **fields)`` when work completes out of order (async jobs). Bars go to stderr and
disappear when output is not a terminal and ``quiet`` is set.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

T = TypeVar("T")

_state = {"quiet": False}
console = Console(stderr=True)
log = logging.getLogger("nemo_math")


def configure(quiet: bool = False, level: int = logging.INFO) -> None:
    """Set up the ``nemo_math`` logger once; ``quiet`` hides progress bars and info messages."""
    _state["quiet"] = quiet
    log.setLevel(logging.WARNING if quiet else level)
    if not log.handlers:
        log.addHandler(RichHandler(console=console, show_path=False, rich_tracebacks=False))
        log.propagate = False


def is_quiet() -> bool:
    return _state["quiet"]


def _progress(extra: str = "") -> Progress:
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn()]
    if extra:
        columns.append(TextColumn(extra))
    return Progress(*columns, console=console, disable=_state["quiet"], transient=False)


def track(iterable: Iterable[T], total: int | None = None, description: str = "working") -> Iterator[T]:
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with _progress() as prog:
        task = prog.add_task(description, total=total)
        for item in iterable:
            yield item
            prog.advance(task)


@contextlib.contextmanager
def bar(total: int, description: str = "working", fields: str = "",
        **initial: object) -> Iterator[Callable[..., None]]:
    """A bar advanced by hand; ``fields`` is a rich format string over ``task.fields`` (e.g. tokens/s), whose
    first values are ``initial``."""
    with _progress(fields) as prog:
        task = prog.add_task(description, total=total, **initial)

        def advance(n: int = 1, **extra: object) -> None:
            prog.update(task, advance=n, **extra)

        yield advance
