"""Progress of a run: a bar per phase on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Protocol

log = logging.getLogger("seqsync.sync")


class Progress(Protocol):
    def phase(self, name: str, total: int | None = None) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def close(self) -> None: ...


class LogProgress:
    """For cron and pipes: one log line when a phase starts and when it ends."""

    def __init__(self) -> None:
        self._name: str | None = None
        self._count = 0

    def phase(self, name: str, total: int | None = None) -> None:
        self._finish()
        self._name, self._count = name, 0
        log.info("phase %s started", name, extra={"phase": name})

    def advance(self, n: int = 1) -> None:
        self._count += n

    def _finish(self) -> None:
        if self._name is not None:
            log.info(
                "phase %s done (%d items)", self._name, self._count,
                extra={"phase": self._name, "items": self._count},
            )
        self._name = None

    def close(self) -> None:
        self._finish()


class RichProgress:
    """For people at a terminal."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as Bars

        self._bars = Bars(
            SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), transient=False,
        )
        self._bars.start()
        self._task: int | None = None

    def phase(self, name: str, total: int | None = None) -> None:
        self._complete()
        self._task = self._bars.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._bars.advance(self._task, n)

    def _complete(self) -> None:
        if self._task is not None:
            task = self._bars.tasks[self._task]
            self._bars.update(self._task, total=task.completed or 1, completed=task.completed or 1)

    def close(self) -> None:
        self._complete()
        self._bars.stop()

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
