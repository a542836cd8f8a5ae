"""Runs the benchmark suites and prints their figures as one table."""

from __future__ import annotations

import importlib
import sys

from benchmarks import SUITES, Figure


def table(figures: list[Figure]) -> str:
    header = ("figure", "value", "baseline", "baseline value", "ratio")
    rows = [header] + [
        (
            f.name,
            f"{f.value:,.2f} {f.unit}",
            f.baseline_name,
            f"{f.baseline_value:,.2f} {f.unit}",
            f"{f.ratio:.3g}x",
        )
        for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(names: list[str]) -> None:
    figures: list[Figure] = []
    for name in names or SUITES:
        suite = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(suite.run())
    print(table(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
