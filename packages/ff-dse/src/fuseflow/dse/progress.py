"""A rich progress bar with finished / pruned / failed counts and an ETA."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class SweepProgress:
    def __init__(self, total: int, title: str = "sweep", enabled: bool = True) -> None:
        self.counts = {"finished": 0, "pruned": 0, "failed": 0}
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self._task = self._progress.add_task(title, total=total, counts=self._text())

    def _text(self) -> str:
        c = self.counts
        return f"[green]{c['finished']} finished[/] [yellow]{c['pruned']} pruned[/] [red]{c['failed']} failed[/]"

    def advance(self, what: str, n: int = 1) -> None:
        self.counts[what] += n
        self._progress.update(self._task, advance=n, counts=self._text())

    def set_total(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def __enter__(self) -> SweepProgress:
        self._progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()
