"""Rows of the result table and their markdown rendering."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

HEADER = ("measure", "Migrateway", "reference", "ratio", "goal", "met?")


@dataclass
class Row:
    measure: str
    ours: str
    reference: str
    ratio: str
    goal: str
    met: str  # "yes", "no", "—" (no goal), or why the row could not be measured

    def cells(self) -> tuple[str, ...]:
        return (self.measure, self.ours, self.reference, self.ratio, self.goal, self.met)


def skipped(measure: str, why: str) -> Row:
    return Row(measure, "—", "—", "—", "—", f"skipped: {why}")


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("yes" if ok else "**no**")


def seconds(value: float) -> str:
    """Milliseconds below one second, seconds above, with three significant figures."""
    return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: Callable[[float], str] = seconds) -> str:
    """The median, and the range when there was more than one run (how noisy it was)."""
    if len(values) == 1:
        return unit(values[0])
    return f"{unit(median(values))} ({unit(min(values))}–{unit(max(values))})"


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)
