"""The one table `make bench` prints.

Each bench/bench_*.py script prints its own detailed output and, for every figure it is judged
on, one machine-readable line made by `figure()`: `BENCH {"figure": ..., ...}`. bench/run_all.py
runs the scripts, collects those lines and prints them as one table: the figure, the reference
measured in the same run, the ratio, the target, and whether it passes.
"""

import json

PREFIX = "BENCH "


def figure(name: str, value: float, unit: str, *, reference: float | None, target: str, passed: bool) -> None:
    """Print one judged figure. `reference` is the same-run baseline (None for absolute targets,
    such as peak memory); the ratio is value / reference."""
    ratio = value / reference if reference else None
    row = {"figure": name, "value": value, "unit": unit, "reference": reference, "ratio": ratio}
    print(PREFIX + json.dumps(row | {"target": target, "passed": passed}), flush=True)
