"""Progress on the console: a tqdm bar on a terminal, else one line per finished report, or the caller's callback."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

from tqdm import tqdm

from adoption_kit.render.results import ReportOutcome

ProgressCallback = Callable[[ReportOutcome, int, int], None]


class _Progress:
    """A tqdm bar on a terminal, else one plain line per finished report (cron, CI logs); both on stderr."""

    def __init__(self, callback: ProgressCallback | None, bar: bool) -> None:
        self.callback, self.bar_wanted, self.bar = callback, bar, None
        self.started = time.monotonic()

    def start(self, total: int, todo: int, workers: int) -> None:
        if self.callback:
            return
        current = total - todo
        self.started = time.monotonic()
        print(f"rendering {todo} of {total} report(s) with {workers} worker(s)"
              + (f"; {current} already current" if current else ""), file=sys.stderr, flush=True)
        if self.bar_wanted:
            self.bar = tqdm(total=todo, unit="report", file=sys.stderr, dynamic_ncols=True)

    def update(self, outcome: ReportOutcome, done: int, total: int) -> None:
        if self.callback:
            self.callback(outcome, done, total)
        elif self.bar is not None:
            if not outcome.ok:
                self.bar.write(f"FAILED {outcome.describe_error()}", file=sys.stderr)
            self.bar.update(1)
        else:
            status = (f"rendered {outcome.job.html} in {outcome.duration_s:.1f} s" if outcome.ok
                      else f"FAILED {outcome.describe_error()}")
            print(f"[{done}/{total}] {status}; {pace(done, total, time.monotonic() - self.started)}",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def pace(done: int, total: int, elapsed_s: float) -> str:
    """'12.5 reports/min, about 1 h 04 min left' from the reports done so far in `elapsed_s` seconds."""
    if done <= 0 or elapsed_s <= 0:
        return "rate not known yet"
    per_minute = done / elapsed_s * 60
    left = (total - done) * elapsed_s / done
    return f"{per_minute:.1f} reports/min, about {_duration(left)} left"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _progress_reporter(progress: ProgressCallback | bool | None) -> _Progress | None:
    if progress is False:
        return None
    if callable(progress):
        return _Progress(progress, False)
    return _Progress(None, bool(getattr(sys.stderr, "isatty", lambda: False)()))
