"""The worker pool: a process pool that renders job specs; a failing job or a dying worker stops nothing else."""
from __future__ import annotations

import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from adoption_kit.render.execute import _failure
from adoption_kit.render.plan import ReportJob
from adoption_kit.render.progress import _Progress
from adoption_kit.render.results import ReportOutcome, _clip
from adoption_kit.render.signals import _STOP_SIGNALS, _maskable, _start_helpers
from adoption_kit.render.worker import _execute_job, _ready, _worker_init


def _job_spec(job: ReportJob, run_dir: Path, timeout: float, parameters: dict[str, Any],
              effective: dict[str, Any], template_copy: Path, *, warm: bool = True,
              kernel_reports: int | None = None) -> dict[str, Any]:
    """What a worker needs, as plain picklable values."""
    return {
        "name": job.name, "kind": job.kind, "title": job.title, "template": str(job.template),
        "template_copy": str(template_copy),
        "parameters": parameters, "effective": effective, "fingerprint": job.fingerprint,
        "run_dir": str(run_dir), "timeout": float(timeout), "customer_id": job.customer_id,
        "customer_name": job.customer_name, "segment": job.segment,
        "warm": warm, "kernel_reports": kernel_reports,
    }


class _WorkerPool:
    """A process pool (forkserver, else spawn) that renders specs;
    one job failing or a worker dying stops nothing else."""

    def __init__(self, workers: int) -> None:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        self.context = multiprocessing.get_context(method)
        self.workers = workers
        self.pool = self._new()

    def _new(self) -> Any:
        # Ctrl-C reaches the whole process group, SIGTERM this process. An interrupt must neither kill a worker
        # half-started (a traceback each) nor come while one is being started (it would outlive the others):
        # the helper processes ignore SIGINT, so do the workers they fork until _worker_init, and here both
        # signals wait until every worker is started; then the whole pool is stopped.
        _start_helpers(self.context)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS) if _maskable() else None
        pool = None
        try:
            try:
                pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self.context,
                                           initializer=_worker_init)
                for _ in range(self.workers):   # start every worker now: each submit to a busy pool adds one
                    pool.submit(_ready)
            finally:
                if previous is not None:
                    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        except BaseException:
            if pool is not None:
                _stop_pool(pool)
            raise
        return pool

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return self.pool.submit(function, *args).result()
        except BrokenProcessPool:
            raise RuntimeError("the report worker processes could not start (see the error above); a script "
                               "that calls render_reports must do so under `if __name__ == '__main__':`") from None

    def run(self, specs: list[dict], jobs: Mapping[str, ReportJob],
            report: _Progress | None) -> Iterator[ReportOutcome]:
        """Yield an outcome per spec as it finishes; a job in flight when a worker dies is retried twice."""
        pending = deque(specs)
        attempts: dict[str, int] = {}
        running: dict[Any, dict] = {}
        done_count = 0
        while pending or running:
            while pending and len(running) < self.workers + 1:
                spec = pending.popleft()
                running[self.pool.submit(_execute_job, spec)] = spec
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                spec = running.pop(future)
                try:
                    raw = future.result()
                except BrokenProcessPool:
                    broken = True
                    attempts[spec["name"]] = attempts.get(spec["name"], 0) + 1
                    if attempts[spec["name"]] <= 2:
                        pending.appendleft(spec)
                        continue
                    raw = _failure(spec, {"type": "worker_died", "message": "the worker process died (out of "
                                          "memory or killed) while rendering this report"}, 0.0)
                except Exception as error:  # noqa: BLE001 - a job must never stop the run
                    raw = _failure(spec, {"type": type(error).__name__, "message": _clip(error, 500)}, 0.0)
                outcome = _outcome(jobs[spec["name"]], raw)
                done_count += 1
                if report:
                    report.update(outcome, done_count, len(specs))
                yield outcome
            if broken:
                # Every job still in the broken pool fails the same way: requeue them, start a new pool.
                for future in list(running):
                    wait([future])
                    spec = running.pop(future)
                    attempts[spec["name"]] = attempts.get(spec["name"], 0) + 1
                    pending.appendleft(spec)
                self.pool.shutdown(wait=True)
                self.pool = self._new()

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def stop(self) -> None:
        _stop_pool(self.pool)


def _stop_pool(pool: Any) -> None:
    """Interrupted: ask each worker to stop (its kernel is shut down, temporary files removed), then wait a little."""
    processes = list(getattr(pool, "_processes", {}).values())
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + 15
    for process in processes:
        process.join(max(0.1, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:   # it closes its wake-up pipe: at exit, Python would write to it ("Bad file descriptor")
        manager.join(max(0.1, deadline - time.monotonic()))


def _outcome(job: ReportJob, raw: Mapping[str, Any]) -> ReportOutcome:
    return ReportOutcome(job, "rendered" if raw.get("ok") else "failed", raw.get("duration_s"),
                         raw.get("headline") or {}, raw.get("error"), raw.get("parameters") or {},
                         raw.get("rendered_at"))
