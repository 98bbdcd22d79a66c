"""The cluster pool: the same job list rendered on a Dask distributed cluster (`report --cluster tcp://host:port`),
with the interface of pool._WorkerPool (call, run, close, stop).

Needs the optional extra (`pip install 'adoption-kit[cluster]'`: dask and distributed), imported only when a
cluster is asked for. What the cluster must offer, checked when the pool connects:
- every worker runs with ONE thread (`dask worker tcp://host:port --nthreads 1 --nworkers N`). A report changes
  the worker process's working directory (papermill's `cwd`) and renders on the worker's warm kernel
  (render.warm), so one process renders one report at a time; a worker with more threads is refused (one line,
  before anything runs) rather than serialised behind a lock, so that its cores are not silently idle (a
  worker that joins later with more threads is serialised by a per-process lock: correct, but slower);
- every worker imports the same adoption-kit version (the job functions travel by module path);
- the run folder is on storage every worker sees at the same absolute path (a shared or network file system):
  the pool writes a token into it and every worker must read it back (`check_run_dir`).

Each job is submitted with `pure=False` (a rerun is a new task) and at most two per worker thread are in flight;
outcomes are yielded as jobs complete (`distributed.as_completed`). A worker lost mid-job: the scheduler itself
gives the job to another worker, up to its `distributed.scheduler.allowed-failures` (default 3), then the job ends
in KilledWorker; the pool resubmits it until it has been tried 3 times in all (as the local pool retries twice),
then it fails as `worker_died`. Warm kernels stay per worker process: the one-time start-up of pool._WorkerPool's
workers (imports, nbconvert template) runs in each worker's task thread, without signal handlers (those belong to
the local pool's own processes; a Dask worker's are its own).

`stop()` cancels the jobs not finished (Dask cannot interrupt a task already running: that report completes and
its files are renamed into place whole); `close()` closes the client, never the cluster.
"""
from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from adoption_kit import __version__
from adoption_kit.errors import ParameterError
from adoption_kit.render.execute import _failure, _render_one
from adoption_kit.render.plan import ReportJob
from adoption_kit.render.pool import _outcome
from adoption_kit.render.progress import _Progress
from adoption_kit.render.results import ReportOutcome, _clip

MISSING_EXTRA = "--cluster needs the optional extra: pip install 'adoption-kit[cluster]'"
CONNECT_TIMEOUT = 30        # seconds to reach the scheduler, and to wait for its first worker
IN_FLIGHT_PER_THREAD = 2
TRIES = 3                   # a job whose worker died is tried this often in all, as pool._WorkerPool does


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ParameterError(MISSING_EXTRA) from None
    return distributed


# -- on the workers -------------------------------------------------------------------------------------------
_INIT_LOCK = threading.Lock()
_INITIALISED = False


def _cluster_worker_init() -> int:
    """Once per worker process, in its task thread: the local workers' start-up minus their signal handlers."""
    global _INITIALISED
    with _INIT_LOCK:
        if not _INITIALISED:
            import atexit

            from adoption_kit.render.worker import _shutdown_warm_kernels, _worker_warm_up

            _worker_warm_up()
            atexit.register(_shutdown_warm_kernels)    # `dask worker --no-nanny`: not a multiprocessing child
            _INITIALISED = True
    return os.getpid()


_JOB_LOCK = threading.Lock()


def _execute_cluster_job(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One report on a Dask worker (its warm kernel is this process's: the worker has one thread). The lock: a
    worker with more threads that joined after the pool's check still renders one report at a time."""
    _cluster_worker_init()
    with _JOB_LOCK:
        return _render_one(spec)


def _kit_version() -> str:
    return __version__


def _read_token(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return None


def _allowed_failures(dask_scheduler: Any = None) -> int:
    return int(getattr(dask_scheduler, "allowed_failures", 0))


# -- in the process that runs render_reports -------------------------------------------------------------------
class _ClusterPool:
    """Renders job specs on the Dask cluster at `address`; one job failing or a worker dying stops nothing else."""

    def __init__(self, address: str, *, warm_up: bool = True) -> None:
        distributed = _distributed()
        self.address = address
        self._distributed = distributed
        try:
            self.client = distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise ParameterError(f"--cluster {address}: cannot reach the Dask scheduler ({_clip(error, 200)}); "
                                 f"fix: start it (`dask scheduler`) or give its address as tcp://host:port") from None
        self._futures: dict[Any, dict] = {}
        self._warm_up: list[Any] = []
        try:
            self.workers = self._check_workers()
            try:
                self.scheduler_retries = int(self.client.run_on_scheduler(_allowed_failures))
            except Exception:  # noqa: BLE001 - a scheduler that refuses run_on_scheduler: the pool retries alone
                self.scheduler_retries = 0
            # The one-time start-up on every worker now, while the parameters are checked and the bundle written.
            if warm_up:
                self._warm_up = [self.client.submit(_cluster_worker_init, pure=False, workers=[worker],
                                                    allow_other_workers=False)
                                 for worker in self.client.nthreads()]
        except BaseException:
            self.client.close()
            raise

    def _check_workers(self) -> int:
        try:
            self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            raise ParameterError(f"--cluster {self.address}: the scheduler has no worker after {CONNECT_TIMEOUT} s; "
                                 f"fix: start some (`dask worker {self.address} --nthreads 1`)") from None
        nthreads = self.client.nthreads()
        threaded = sorted(worker for worker, n in nthreads.items() if n != 1)
        if threaded:
            raise ParameterError(f"--cluster {self.address}: {len(threaded)} worker(s) run more than one thread "
                                 f"({threaded[0]} has {nthreads[threaded[0]]}); each report needs a worker process "
                                 f"of its own: fix: start them with `dask worker {self.address} --nthreads 1 "
                                 f"--nworkers N`")
        try:
            versions = self.client.run(_kit_version)
        except Exception as error:  # noqa: BLE001 - unpickling the function fails where the kit is not installed
            raise ParameterError(f"--cluster {self.address}: the workers cannot run adoption-kit "
                                 f"({_clip(error, 200)}); fix: install adoption-kit {__version__} with its "
                                 f"[cluster] extra on every worker") from None
        other = sorted(worker for worker, version in versions.items() if version != __version__)
        if other:
            raise ParameterError(f"--cluster {self.address}: worker {other[0]} runs adoption-kit "
                                 f"{versions[other[0]]}, this is {__version__}; fix: install the same version on "
                                 f"every worker")
        return sum(nthreads.values())

    def check_run_dir(self, run_dir: Path) -> None:
        """Refuse a run folder that some worker does not see (the same absolute path on shared storage)."""
        token = secrets.token_hex(16)
        probe = run_dir / f".cluster-check.{token}.part"    # a killed run's leftover goes with the partial files
        probe.write_text(token, encoding="utf-8")
        try:
            seen = self.client.run(_read_token, str(probe))
        finally:
            probe.unlink(missing_ok=True)
        blind = sorted(worker for worker, value in seen.items() if value != token)
        if blind:
            raise ParameterError(f"--cluster {self.address}: worker {blind[0]} does not see the run folder "
                                 f"{run_dir}{f' (nor {len(blind) - 1} other worker(s))' if len(blind) > 1 else ''};"
                                 f" fix: put --out on storage every worker mounts at the same absolute path")

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(function, *args, pure=False).result()

    def _submit(self, spec: dict) -> Any:
        key = f"adoption-kit-report-{spec['name']}-{secrets.token_hex(8)}"
        future = self.client.submit(_execute_cluster_job, spec, pure=False, key=key)
        self._futures[future] = spec
        return future

    def run(self, specs: list[dict], jobs: Mapping[str, ReportJob],
            report: _Progress | None) -> Iterator[ReportOutcome]:
        """Yield an outcome per spec as it finishes; a job whose worker died is tried TRIES times in all."""
        distributed = self._distributed
        pending = list(reversed(specs))       # popped from the end: in plan order
        tries: dict[str, int] = {}            # Dask tries of each job, the scheduler's own retries included
        limit = max(1, IN_FLIGHT_PER_THREAD * self.workers)
        done_count = 0
        completed = distributed.as_completed(loop=self.client.loop)   # this client, not a default one
        while pending and len(self._futures) < limit:
            completed.add(self._submit(pending.pop()))
        for future in completed:
            spec = self._futures.pop(future)
            try:
                raw = future.result()
            except distributed.KilledWorker:
                tries[spec["name"]] = tries.get(spec["name"], 0) + 1 + self.scheduler_retries
                if tries[spec["name"]] < TRIES:
                    completed.add(self._submit(spec))
                    continue
                raw = _failure(spec, {"type": "worker_died", "message": "the Dask worker process died (out of "
                                      "memory or killed) while rendering this report"}, 0.0)
            except distributed.CancelledError as error:
                raw = _failure(spec, {"type": "cancelled", "message": "the Dask cluster dropped this job (the "
                                      f"scheduler restarted or was lost): {_clip(error, 300)}"}, 0.0)
            except Exception as error:  # noqa: BLE001 - a job must never stop the run
                raw = _failure(spec, {"type": type(error).__name__, "message": _clip(error, 500)}, 0.0)
            finally:
                future.release()
            outcome = _outcome(jobs[spec["name"]], raw)
            done_count += 1
            if report:
                report.update(outcome, done_count, len(specs))
            yield outcome
            while pending and len(self._futures) < limit:
                completed.add(self._submit(pending.pop()))

    def close(self) -> None:
        """Close this client; the cluster and its workers (and their warm kernels) stay up for the next run."""
        self.client.close()

    def stop(self) -> None:
        """Interrupted: cancel every job not finished, then close the client."""
        try:
            futures = list(self._futures) + self._warm_up
            if futures:
                self.client.cancel(futures)
        finally:
            self._futures.clear()
            self.client.close()
