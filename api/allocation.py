"""Building large structures that live as long as the process's caches."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived() -> Iterator[None]:
    """Allocate without the cyclic garbage collector; what was built joins the oldest generation.

    A revision graph and the dumps of its revisions are tens of thousands of objects that stay
    until the migrations directory changes. Built with the collector on, each burst of
    allocations sets off collections that walk the young objects and free nothing; paused and
    resumed, the collector would walk them all at once, then again as they age (together a
    third of a first GET /revisions at N=10000). So the collector is paused while they are
    built, and everything alive at the end goes straight to the oldest generation
    (gc.freeze then gc.unfreeze), where only the rare full collections look at it, and where
    cyclic garbage is still collected.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # everything tracked, into the permanent generation (counts reset) ...
        gc.unfreeze()  # ... and from there into the oldest generation
        if enabled:
            gc.enable()
