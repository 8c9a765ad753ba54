"""Run every benchmark in bench/ and print one table of their judged figures (`make bench`).

    python bench/run_all.py [bench_totals bench_api ...]   (default: every bench/bench_*.py)

Each script needs PostgreSQL (it creates its own database) and prints its details as it goes;
this runner passes that output through, collects the BENCH lines (bench/report.py) and ends
with the table. It exits 1 if a script fails or any figure misses its target.
"""

import json
import subprocess
import sys
from pathlib import Path

from report import PREFIX

BENCH_DIR = Path(__file__).resolve().parent


def run(script: Path) -> tuple[list[dict], int]:
    print(f"== {script.name}", flush=True)
    rows = []
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith(PREFIX):
                rows.append(json.loads(line[len(PREFIX) :]) | {"bench": script.stem})
    return rows, process.returncode


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    return f"{value:,.3f}{unit}" if value < 10 else f"{value:,.1f}{unit}"


def main(names: list[str]) -> int:
    scripts = [BENCH_DIR / f"{name}.py" for name in names] or sorted(BENCH_DIR.glob("bench_*.py"))
    rows, failed = [], []
    for script in scripts:
        script_rows, returncode = run(script)
        rows += script_rows
        if not script_rows:
            failed.append(script.stem)
    header = ("benchmark", "figure", "value", "reference", "ratio", "target", "pass")
    table = [header] + [
        (
            row["bench"],
            row["figure"],
            number(row["value"], f" {row['unit']}"),
            number(row["reference"], f" {row['unit']}"),
            number(row["ratio"]),
            row["target"],
            "yes" if row["passed"] else "NO",
        )
        for row in rows
    ]
    table += [(name, "(the script reported no figure: see its output above)", "", "", "", "", "NO") for name in failed]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    print("\n" + "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in table))
    return 0 if not failed and all(row["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
