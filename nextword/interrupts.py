"""Holding Ctrl-C, SIGTERM and SIGHUP over steps that must happen together: a line committed to the
personal store and taken off the queue of what waits, or learned and marked as learned. An
interrupt between the two learned the line again at the clean-up (the probe: one run in
32 of a stress test). (A wait for another writer's lock, inside SQLite, ran to its end
before Python saw a signal anyway.) Stdlib only."""

from __future__ import annotations

import contextlib
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else []))


@contextlib.contextmanager
def held():
    """Run the block with SIGINT, SIGTERM and SIGHUP held: one that arrives meanwhile is raised
    again, to its own handler, once the block is done. Outside the main thread (where
    Python runs no signal handler) nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum, frame) -> None:
        received.append(signum)

    previous = {}
    try:
        for signum in SIGNALS:
            handler = signal.getsignal(signum)
            if handler is not None:  # (None: set outside Python, left alone)
                previous[signum] = signal.signal(signum, hold)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            signal.raise_signal(received[0])
