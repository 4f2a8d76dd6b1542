"""A pause of the cyclic garbage collector while the process builds its long-lived caches."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Allocate without the cyclic garbage collector; what was built joins the oldest generation.

    A revision graph and the dumps of its revisions are tens of thousands of objects that stay
    until the migrations directory changes. Built with the collector on, each burst of
    allocations sets off collections that walk the young objects and free nothing. So the
    collector is paused while they are built, and everything alive at the end goes straight
    to the oldest generation (gc.freeze then gc.unfreeze), where only the rare full
    collections look at it, and where cyclic garbage is still collected.
    """
    # Kept for bench goal 4 (first GET /revisions at N=10000, README "Performance"): in-process,
    # 8 fresh processes alternated, its CPU time is 586 ms with the pause against 684 ms
    # without (-14%); without it the table's 489 ms (2.6x the floor) would near the 3x goal.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Unless objects are frozen already (a process that froze its start-up heap, the test
        # suite between tests): unfreezing would thaw them too. The new objects then age as
        # any others do.
        if not gc.get_freeze_count():
            gc.freeze()  # everything tracked, into the permanent generation (counts reset) ...
            gc.unfreeze()  # ... and from there into the oldest generation
        if enabled:
            gc.enable()
