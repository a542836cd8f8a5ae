"""`make bench`: each figure printed beside a baseline measured in the same run.

Every module named in `SUITES` has a `run() -> list[Figure]`; `python -m benchmarks`
runs them all (or the ones named on the command line) and prints one table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from tests.conftest import reset_process_state

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


@contextmanager
def instapipe_env(env: Mapping[str, str]) -> Iterator[None]:
    """Runs the block with `env` set, read afresh as at a cold start, then restores
    the environment and forgets what was read under it."""
    saved = dict(os.environ)
    os.environ.update(env)
    reset_process_state()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_process_state()
