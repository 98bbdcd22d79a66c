"""Warm kernels: one Jupyter kernel per worker that renders report after report, as the papermill engine
`adoption_kit_warm`.

papermill still parameterises each template (its injected-parameters cell and metadata stay), then this engine
executes the notebook through nbclient on the worker's warm kernel instead of starting one per report. Before
every report the kernel's user namespace is reset (as `%reset -f`, in a new history session), its working
directory set, its execution counter
back at 1 (the executed notebook numbers its cells as a fresh kernel would) and the kit's in-kernel state
cleared (render.kernel_state). The kernel is replaced after a failing, timed-out or dead-kernel report, and after
`max_reports` reports. Usable from papermill itself: `papermill.execute_notebook(..., engine_name=WARM_ENGINE)`
in a loop reuses one kernel per process (and thread).

Imported only where reports execute (workers): it imports papermill, nbclient and jupyter_client.
"""
from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from typing import Any

from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

from adoption_kit.config import NOTEBOOK_PNG_ENV

WARM_ENGINE = "adoption_kit_warm"
DEFAULT_KERNEL_REPORTS = 200          # a warm kernel is replaced after this many reports (memory, fragmentation)
KERNEL_START_TIMEOUT = 60
HELPER_TIMEOUT = 120                  # the reset between reports and the start-up imports

# Paid once per kernel: the kit, its chart stack and vl-convert's renderer start-up (the first SVG conversion).
PREPARE_CODE = """\
import adoption_kit.analysis, adoption_kit.report.charts  # noqa
try:
    import vl_convert as _ak_vlc
    from adoption_kit.report.charts.fonts import register_measure_font as _ak_register
    _ak_register()
    _ak_vlc.vegalite_to_svg({"mark": "point", "data": {"values": [{"x": 1}]},
                             "encoding": {"x": {"field": "x", "type": "quantitative"}}})
    del _ak_vlc, _ak_register
except Exception:
    pass
"""

# Between reports: nothing a report defined survives into the next one. What `%reset -f` does, and a new history
# session with the execution counter back at 1 (cells are numbered as in a fresh kernel).
RESET_CODE = """\
get_ipython().reset(new_session=True)
from adoption_kit.render.kernel_state import between_reports as _ak_between_reports
_ak_between_reports({cwd!r}, {environment!r})
del _ak_between_reports
"""


class WarmKernel:
    """One kernel kept between reports in this process (see the module's docstring)."""

    def __init__(self, max_reports: int = DEFAULT_KERNEL_REPORTS) -> None:
        self.max_reports = max_reports
        self.km: Any = None
        self.kc: Any = None
        self.reports = 0          # reports rendered by the current kernel
        self.started = 0          # kernels started by this process (tests, the benchmark)
        self.log: Any = None      # the kernel's stderr
        self.mark = 0

    # -- life cycle ----------------------------------------------------------------------------------------
    def ready(self, cwd: str) -> None:
        """A live kernel, reset for the next report, its working directory `cwd`."""
        if self.km is not None and (self.reports >= self.max_reports or not run_sync(self.km.is_alive)()):
            self.discard()
        if self.km is None:
            self._start()
        if self.log is not None:
            self.mark = self.log.seek(0, os.SEEK_END)
        try:
            # the report's settings in the kernel's environment, as a fresh kernel inherits them (execute.py)
            self._run(RESET_CODE.format(cwd=str(cwd), environment={NOTEBOOK_PNG_ENV: os.environ.get(NOTEBOOK_PNG_ENV)}))
        except BaseException:
            self.discard()
            raise

    def finished(self, ok: bool) -> None:
        """After a report: a failure (cell error, timeout, dead kernel) replaces the kernel before the next one."""
        self.reports += 1
        if not ok:
            self.discard()

    def _start(self) -> None:
        """A new kernel; started again once when the first one lost a port it was given (see _port_taken)."""
        try:
            self._start_once()
        except RuntimeError:
            if not self._port_taken():
                raise
            self._start_once()

    def _port_taken(self) -> bool:
        """The kernel could not bind a port jupyter_client picked for it: another process (another worker's
        kernel, a Dask worker's connections) took it in between. A race, not a fault: worth one more start."""
        return "Address already in use" in self.output()

    def _start_once(self) -> None:
        from adoption_kit.render.execute import _kernel_manager_class

        self.log = tempfile.TemporaryFile()
        self.mark = 0
        km = _kernel_manager_class(self.log)(kernel_name="python3")
        try:
            # as nbclient does: the kernel's input history in memory, not in the user's IPython profile
            run_sync(km.start_kernel)(extra_arguments=["--HistoryManager.hist_file=:memory:"])
            kc = km.client()
            kc.start_channels()
            deadline = time.monotonic() + KERNEL_START_TIMEOUT
            while True:   # in steps: a kernel that lost its port hangs; it is seen in seconds, not after a minute
                try:
                    run_sync(kc.wait_for_ready)(timeout=max(1.0, min(5.0, deadline - time.monotonic())))
                    break
                except RuntimeError:
                    if self._port_taken() or time.monotonic() >= deadline or not run_sync(km.is_alive)():
                        raise
            kc.allow_stdin = False
        except BaseException:
            _kill(km)
            raise
        self.km, self.kc, self.reports = km, kc, 0
        self.started += 1
        try:
            self._run(PREPARE_CODE)
        except BaseException:
            self.discard()
            raise

    def _run(self, code: str) -> None:
        reply = run_sync(self.kc.execute_interactive)(code, silent=True, store_history=False, allow_stdin=False,
                                                      timeout=HELPER_TIMEOUT, output_hook=lambda _msg: None)
        content = reply.get("content", {})
        if content.get("status") != "ok":
            raise RuntimeError(f"the warm kernel could not be prepared: {content.get('ename')}: "
                               f"{content.get('evalue')}")

    def output(self) -> str:
        """What the kernel wrote to stderr since the current report started."""
        if self.log is None:
            return ""
        try:
            self.log.seek(self.mark)
            return self.log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def discard(self) -> None:
        """Shut the kernel down (killed if it does not stop at once); the next report starts a new one."""
        km, kc, log = self.km, self.kc, self.log
        self.km = self.kc = None
        self.reports = 0
        if kc is not None:
            try:
                kc.stop_channels()
            except Exception:  # noqa: BLE001, S110 - the kernel may be gone already
                pass
        if km is not None:
            try:
                run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001
                _kill(km)
        if log is not None:
            # kept readable until the next start: a failure's kernel log is read after discard()
            self.log = log

    def kill_now(self) -> None:
        """From a signal handler: SIGKILL the kernel process, no messages."""
        if self.km is not None:
            _kill(self.km)


def _kill(km: Any) -> None:
    process = getattr(getattr(km, "provisioner", None), "process", None)
    pid = getattr(process, "pid", None)
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        km.cleanup_resources()
    except Exception:  # noqa: BLE001, S110
        pass


_LOCAL = threading.local()   # nbclient's event loop is per thread: so is the warm kernel


def current_kernel() -> WarmKernel:
    """This thread's warm kernel (created on first use; no kernel starts until a report needs one)."""
    kernel = getattr(_LOCAL, "kernel", None)
    if kernel is None:
        kernel = _LOCAL.kernel = WarmKernel()
        _ALL.append(kernel)
    return kernel


_ALL: list[WarmKernel] = []


def shutdown_all() -> None:
    for kernel in _ALL:
        kernel.discard()


def kill_all() -> None:
    for kernel in _ALL:
        kernel.kill_now()


class WarmEngine(NBClientEngine):
    """papermill's nbclient engine on this thread's warm kernel instead of a new kernel per notebook."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                 stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                 execution_timeout: Any = None, **kwargs: Any) -> Any:
        kernel = current_kernel()
        kernel.ready(os.getcwd())     # papermill has changed into `cwd` around the execution
        kwargs = remove_args(["input_path", "kernel_manager_class"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(safe_kwargs, timeout=execution_timeout if execution_timeout else
                                    kwargs.get("timeout"), startup_timeout=start_timeout, kernel_name=kernel_name,
                                    log=logger, log_output=log_output, stdout_file=stdout_file,
                                    stderr_file=stderr_file)
        client = PapermillNotebookClient(nb_man, km=kernel.km, **final_kwargs)
        client.kc = kernel.kc          # nbclient then neither starts a kernel nor shuts it down
        if client.on_notebook_start is not None:   # nbclient calls it when it starts a client: not here
            client.on_notebook_start(notebook=client.nb)
        ok = False
        try:
            notebook = client.execute()
            ok = True
            return notebook
        finally:
            kernel.finished(ok)


papermill_engines.register(WARM_ENGINE, WarmEngine)
