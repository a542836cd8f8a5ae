"""`make bench`: each figure printed beside a baseline measured in the same run.

Every module named in `SUITES` has a `run() -> list[Figure]`; `python -m benchmarks`
runs them all (or the ones named on the command line) and prints one table.
"""

from __future__ import annotations

from dataclasses import dataclass

SUITES: tuple[str, ...] = ("fetch", "archive", "api", "pipeline", "viewer")


@dataclass(frozen=True)
class Figure:
    """One measured figure and the baseline it is read against."""

    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("inf")
