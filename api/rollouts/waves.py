"""Waves: which targets a rollout runs together, the first one being the canary."""

from __future__ import annotations

import math
import re

PERCENT = re.compile(r"^(\d{1,3}(?:\.\d+)?)%$")
# A canary of one, then all the rest: what a rollout does when its request names no waves.
DEFAULT_WAVES: list[int | str] = [1, "100%"]


def wave_sizes(spec: list[int | str], total: int) -> list[int]:
    """How many targets each wave adds, from a list of cumulative sizes: a count (``1``) or a
    share of all the targets (``"10%"``, rounded up). Waves that add nobody are dropped.

    :raises ValueError: a size that is neither, sizes that shrink, or waves that never
        reach every target (a rollout that silently left some out would be worse).
    """
    reach = []
    for i, size in enumerate(spec):
        if isinstance(size, bool) or not isinstance(size, int | str):
            raise ValueError(f'waves[{i}] must be a count (1) or a share ("10%")')
        if isinstance(size, int):
            if size < 1:
                raise ValueError(f"waves[{i}] must be at least 1")
            count = size
        else:
            match = PERCENT.match(size.strip())
            if not match or not 0 < float(match.group(1)) <= 100:
                raise ValueError(f'waves[{i}] must be a count (1) or a share ("10%")')
            count = math.ceil(total * float(match.group(1)) / 100)
        count = min(count, total)
        if reach and count < reach[-1]:
            raise ValueError(
                f"waves[{i}] reaches fewer targets than the wave before it: each wave's size "
                'counts every target up to it (1, "10%", "100%")'
            )
        reach.append(count)
    if not reach or reach[-1] < total:
        raise ValueError(
            f'the last wave must reach every target ({total}): end the waves with "100%"'
        )
    sizes, before = [], 0
    for count in reach:
        if count > before:
            sizes.append(count - before)
            before = count
    return sizes


def split(names: list[str], sizes: list[int]) -> list[list[str]]:
    """``names`` cut into consecutive waves of ``sizes``."""
    waves, at = [], 0
    for size in sizes:
        waves.append(names[at : at + size])
        at += size
    return waves
