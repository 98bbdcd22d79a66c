"""Signals in the parent: the multiprocessing helpers started with SIGINT ignored (SIGTERM as Ctrl-C is
adoption_kit.interrupts, shared with the CLI)."""
from __future__ import annotations

import signal
import threading
from multiprocessing import forkserver, resource_tracker
from typing import Any

_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _start_helpers(context: Any) -> None:
    """Start multiprocessing's resource tracker and forkserver with SIGINT ignored: they outlive a Ctrl-C in the
    terminal (this process stops the pool), and the forkserver's children start with it ignored too."""
    if not _maskable():   # pragma: no cover - Windows, or not the main thread
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        resource_tracker.ensure_running()
        if context.get_start_method() == "forkserver":
            forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _maskable() -> bool:
    """Signal masks exist (POSIX) and this is the main thread (the only one that may change handlers)."""
    return hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
