"""Learning while predicting: lines to add to the personal store wait in memory while
another process holds its write lock, and are written once it is free, so that a busy
store never stops `predict --learn`, `complete` or the language server. Stdlib only."""

from __future__ import annotations

import time
from collections import deque

from nextword.interrupts import held
from nextword.store.database import BUSY_MS, StoreBusy, StoreUnavailable, UserStore

LEARN_WAIT_MS = 200        # a line waits this long for another writer, then in memory
RETRY_SECONDS = 1.0        # after that, lines only join the queue for this long (no waiting)
MAX_WAITING_CHARS = 4_000_000  # what waits in memory at most (beyond: dropped, and said)
FINISH_WAIT_MS = BUSY_MS   # at the end, each line still waiting waits this long


class Learner:
    """Adds lines to one UserStore in order, each in its own transaction, with the time it
    was written (so that `forget --since` takes it back with its day)."""

    def __init__(self, store: UserStore):
        self.store = store
        self.waiting: deque[tuple[str, float]] = deque()
        self.chars = 0
        self.dropped = 0  # lines not kept: too much waited already
        self.failed: str | None = None  # why the store cannot be written (learning stopped)
        self._notes: list[str] = []
        self._said_busy = False
        self._retry_at = 0.0  # (time.monotonic) when a busy store is tried again

    def learn(self, text: str) -> bool:
        """Add `text` now, or once the store is free. False if it cannot be written at all
        (then `failed` says why)."""
        if self.failed is not None:
            return False
        if self.chars + len(text) > MAX_WAITING_CHARS:
            self.dropped += 1
        else:
            self.waiting.append((text, time.time()))
            self.chars += len(text)
        if time.monotonic() < self._retry_at:
            return True  # busy a moment ago: answering comes first
        return self.flush(LEARN_WAIT_MS)

    def flush(self, wait_ms: int) -> bool:
        """Write what waits, each line waiting up to `wait_ms` for another writer."""
        while self.waiting:
            text, when = self.waiting[0]
            try:
                with held():  # committed and taken off the queue, or neither
                    self.store.learn(text, when, wait_ms=wait_ms)
                    self.waiting.popleft()
                    self.chars -= len(text)
            except StoreBusy:
                self._retry_at = time.monotonic() + RETRY_SECONDS
                if not self._said_busy:
                    self._said_busy = True
                    self._notes.append(f"the personal store {self.store.path} is busy (another process "
                                       f"is writing it): what is to be learned waits in memory until it "
                                       f"is free")
                return True
            except StoreUnavailable as exc:
                self.failed = str(exc)
                self.waiting.clear()
                self.chars = 0
                return False
        return True

    def finish(self, wait_ms: int | None = None) -> None:
        """Write what still waits, waiting up to `wait_ms` (FINISH_WAIT_MS) for the store;
        say what could not be written."""
        if self.waiting:
            self.flush(FINISH_WAIT_MS if wait_ms is None else wait_ms)
        lost = len(self.waiting) + self.dropped
        if lost:
            self._notes.append(f"{lost:,} line(s) were not learned: the personal store {self.store.path} "
                               f"stayed busy")
        self.waiting.clear()
        self.chars = self.dropped = 0

    def notes(self) -> list[str]:
        """What is to be said (once each) since last asked."""
        notes, self._notes = self._notes, []
        return notes
