"""Batch progress: a rich bar on the terminal (stderr) and periodic plain lines for a log."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ReplyCheck(NamedTuple):
    """Counts problems in successful replies that a caller cares about (a judge reply's unresolved
    checkpoints, a truncated answer), so the progress bar shows them beside failed calls."""

    label: str
    count: Callable[[Any, Any], int]  # (LLMRequest, LLMResult) -> problems in that reply


TRUNCATED = ReplyCheck("truncated", lambda _req, res: int(res.ok and res.finish_reason == "length"))


class BatchProgress:
    """Counts finished requests; logs every 10% or every ``every_s`` seconds, and at the end."""

    def __init__(
        self,
        desc: str,
        total: int,
        log: Callable[[str], None] | None,
        bar: bool,
        every_s: float = 10.0,
        problems_label: str | None = None,
        limits: Callable[[], str] | None = None,
    ) -> None:
        self.desc, self.total, self._log, self._every_s = desc, total, log, every_s
        # The providers' adaptive concurrency limits, e.g. "concurrency 4/16 (openai)"; "" while at the maximum.
        self._limits = limits or (lambda: "")
        self.done = self.from_store = self.errors = self.problems = 0
        self.problems_label = problems_label
        self._last_log_t = time.monotonic()
        self._last_log_decile = 0
        self._progress: Progress | None = None
        self._task = None
        if bar and total:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("store {task.fields[store]}  errors {task.fields[errors]}"
                           + (f"  {problems_label} {{task.fields[problems]}}" if problems_label else "")
                           + "  {task.fields[limit]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=False,
            )
            # escape: "generations[oracle]" would otherwise be read as rich markup and vanish
            self._task = self._progress.add_task(escape(desc), total=total, store=0, errors=0, problems=0,
                                                 limit=escape(self._limits()))
            self._progress.start()

    def line(self) -> str:
        extra = f", {self.problems} {self.problems_label}" if self.problems_label else ""
        limits = self._limits()
        extra += f", {limits}" if limits else ""
        return f"{self.desc}: {self.done}/{self.total} done, {self.from_store} from store, {self.errors} errors{extra}"

    def log(self, msg: str) -> None:
        if self._log is not None:
            self._log(msg)

    def advance(self, n: int = 1, *, from_store: bool = False, error: bool = False, problems: int = 0) -> None:
        self.done += n
        self.from_store += n if from_store else 0
        self.errors += n if error else 0
        self.problems += problems
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=n, store=self.from_store, errors=self.errors,
                                  problems=self.problems, limit=escape(self._limits()))
        decile = self.done * 10 // self.total if self.total else 10
        now = time.monotonic()
        if self.done < self.total and (decile > self._last_log_decile or now - self._last_log_t >= self._every_s):
            self._last_log_decile, self._last_log_t = decile, now
            self.log(self.line())

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.log(self.line())
