"""Building large structures that live as long as the process's caches."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Allocate without the cyclic garbage collector, and keep what was built out of its sight.

    A revision graph and the dumps of its revisions are tens of thousands of objects that stay
    until the migrations directory changes. Built with the collector on, each burst of
    allocations sets off collections that walk the whole heap and free nothing; resumed
    afterwards, it walks them all again (together a third of a first GET /revisions at
    N=10000). So the collector is paused while they are built, and everything alive at the
    end is frozen (gc.freeze): later collections skip it. Reference counting frees these
    objects as usual when a graph is replaced; only garbage in reference cycles that exists
    at that moment stays until the process ends, once per load.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
