"""Python's cyclic garbage collector held off while a batch builds and frees its objects."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_paused_lock = threading.Lock()
_paused_batches = 0  # batches under way (in any thread) with the collector held off
_collector_was_on = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off for one batch, and back on after it.

    A batch (the clock's burst, a file's leads routed together) builds hundreds of thousands of
    short-lived objects (model instances, trace steps), nearly all freed by reference counting;
    the collector, counting allocations, would walk every live object many times over meanwhile
    (about a sixth of the clock's CPU in a burst, 90 µs of a routed lead's in a batch). Once it
    is back on, its next pass (at the next allocations) finds any cycles. The collector is the
    process's: with batches in several threads it is back on after the last one ends.
    """
    global _paused_batches, _collector_was_on
    with _paused_lock:
        if not _paused_batches:
            _collector_was_on = gc.isenabled()
            gc.disable()
        _paused_batches += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused_batches -= 1
            if not _paused_batches and _collector_was_on:
                gc.enable()
