"""What a worker process runs: its start-up, its signal handling, and one job
(referenced by module path when pickled)."""
from __future__ import annotations

import multiprocessing.util
import os
import signal
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from adoption_kit.render.execute import _exporter, _render_one
from adoption_kit.render.signals import _STOP_SIGNALS


def _ready() -> int:
    return os.getpid()


_IN_JOB = False


def _on_signal(signum: int, frame: Any) -> None:  # noqa: ARG001
    """In a worker: SIGTERM/SIGINT during a report unwinds it (temporary files go), otherwise exit quietly."""
    if _IN_JOB:
        raise KeyboardInterrupt(f"signal {signum}")
    _kill_warm_kernels()
    os._exit(128 + signum)


def _kill_warm_kernels() -> None:
    """os._exit runs no clean-up: a warm kernel (render.warm) must not outlive its worker."""
    warm = sys.modules.get("adoption_kit.render.warm")
    if warm is not None:
        warm.kill_all()


def _shutdown_warm_kernels() -> None:
    warm = sys.modules.get("adoption_kit.render.warm")
    if warm is not None:
        warm.shutdown_all()


def _worker_init() -> None:
    """Worker start: quiet signal handling; pay the one-time import and nbconvert template costs now."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if hasattr(signal, "pthread_sigmask"):   # in case the start-up mask was inherited
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _worker_warm_up()


def _worker_warm_up() -> None:
    """The start-up without signal handlers (any thread; a Dask worker's, render.cluster): imports, the warning
    filter, the warm kernels' shutdown at exit and the nbconvert template."""
    import nbformat
    import papermill  # noqa: F401

    # A stop signal can cancel nbclient's async calls on the warm kernel mid-flight; Python then warns about the
    # coroutine left unawaited, and that warning's own formatting (an import) can be interrupted into a raw
    # traceback on the console. The worker is stopping anyway: the warning says nothing to the user.
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
    # multiprocessing children run its finalizers, not atexit: the warm kernel is shut down when the worker ends.
    multiprocessing.util.Finalize(None, _shutdown_warm_kernels, exitpriority=10)
    _exporter().from_notebook_node(nbformat.v4.new_notebook())


def _execute_job(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One report in a worker; interrupted, the worker exits (its kernel follows its parent) after cleaning up."""
    global _IN_JOB
    _IN_JOB = True
    try:
        return _render_one(spec)
    except KeyboardInterrupt:
        _kill_warm_kernels()
        os._exit(130)
    finally:
        _IN_JOB = False
