"""Benchmark: the campaign simulator at national scale, against a raw COPY of the same rows.

    python bench/bench_simulator.py          (or `make bench`)

Needs PostgreSQL: DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/greenbox_bench_sim.
The database is dropped, created and migrated on every run (it is the benchmark's own), then:

1. `manage.py simulate_campaign --year 2022 --scale 1.0 --seed 42` runs in a child process
   (it simulates 2021 too, 2022 being compared with it): its wall time, and its peak memory
   (ru_maxrss of the finished child, from resource.getrusage(RUSAGE_CHILDREN)).
2. The reference, in the same run: every table the simulator filled is copied out to memory
   (COPY ... TO STDOUT, the real rows as synthetic data) and the same rows are COPYed into a
   copy of that table (CREATE TEMP TABLE ... (LIKE t INCLUDING ALL): the table's columns,
   indexes and CHECK constraints, which is what "COPY into each table the simulator fills"
   costs; unique indexes on random idempotency keys dominate it), timed per table. The ratio
   and its target are against this reference. A COPY into bare copies (INCLUDING DEFAULTS: no
   indexes or constraints) is printed for context: it shows what the indexes cost.

It prints a table (figure, reference, ratio, target, pass) and a last machine-readable line:
    RESULT simulator_ratio=1.87 simulator_peak_mib=346.6
The exit status is 1 if the simulator fails or misses a target (ratio <= 3 against the COPY
into the tables' copies, peak memory < 1024 MiB).
"""

import io
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from database import ensure_database  # bench/database.py
from report import figure  # bench/report.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/greenbox_bench_sim")

SCALE = os.environ.get("BENCH_SIM_SCALE", "1.0")  # a smaller scale tries the benchmark out quickly
TARGET_RATIO = 3.0
TARGET_PEAK_MIB = 1024
TABLES = [
    "auth_user",
    "stations_city",
    "stations_station",
    "stations_stationstaff",
    "recycling_member",
    "recycling_account",
    "recycling_dropoff",
    "recycling_transfer",
    "recycling_cartonmovement",
    "recycling_cartoninventory",
    "rewards_redemption",
    "rewards_donation",
    "rewards_rewardrequest",
    "rewards_stationstock",
    "recycling_dailystationtotal",
    "recycling_dailycitytotal",
]


def recreate_database() -> None:
    ensure_database(recreate=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0", "--skip-checks"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DEBUG": "1"},
    )


def run_simulator() -> tuple[float, float]:
    """Wall seconds and peak resident MiB of the simulate_campaign child process."""
    command = [sys.executable, "manage.py", "simulate_campaign", "--year", "2022", "--scale", SCALE, "--seed", "42"]
    print("$", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command + ["--skip-checks"], cwd=ROOT, check=True, env={**os.environ, "DEBUG": "1"})
    wall = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child: the simulator
    return wall, peak_kib / 1024


def copy_reference(*, including: str) -> tuple[float, int]:
    """Seconds to COPY every simulated table's rows into temporary copies, and the rows copied."""
    import django
    from django.db import connection

    django.setup()
    connection.ensure_connection()
    raw = connection.connection
    total, rows = 0.0, 0
    for table in TABLES:
        buffer = io.BytesIO()
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} TO STDOUT") as copy:
            for data in copy:
                buffer.write(data)
        payload = buffer.getvalue()
        del buffer
        with raw.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE ref_{table} (LIKE {table} INCLUDING {including})")
            raw.commit()
            started = time.perf_counter()
            with cursor.copy(f"COPY ref_{table} FROM STDIN") as copy:
                for offset in range(0, len(payload), 1 << 20):
                    copy.write(payload[offset : offset + (1 << 20)])
            raw.commit()
            total += time.perf_counter() - started
            cursor.execute(f"SELECT count(*) FROM ref_{table}")
            rows += cursor.fetchone()[0]
            cursor.execute(f"DROP TABLE ref_{table}")
            raw.commit()
    return total, rows


def main() -> int:
    recreate_database()
    wall, peak = run_simulator()
    bare, rows = copy_reference(including="DEFAULTS")
    indexed, _rows = copy_reference(including="ALL")
    ratio = wall / indexed
    checks = [
        ("simulator wall time (s)", f"{wall:.1f}", "", "", ""),
        (f"raw COPY of the same {rows:,} rows into the tables' copies (s)", f"{indexed:.1f}", "", "", ""),
        ("raw COPY into bare copies, no indexes (context) (s)", f"{bare:.1f}", "", "", ""),
        ("simulator / COPY", f"{wall:.1f}", f"{indexed:.1f}", f"{ratio:.2f}", f"<= {TARGET_RATIO}"),
        ("simulator / bare COPY (context)", f"{wall:.1f}", f"{bare:.1f}", f"{wall / bare:.2f}", ""),
        ("simulator peak memory (MiB)", f"{peak:.1f}", "", "", f"< {TARGET_PEAK_MIB}"),
    ]
    passed = {3: ratio <= TARGET_RATIO, 5: peak < TARGET_PEAK_MIB}
    header = ("figure", "value", "reference", "ratio", "target", "pass")
    table = [header] + [(*row, {True: "yes", False: "NO"}.get(passed.get(i), "")) for i, row in enumerate(checks)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print()
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(f"RESULT simulator_ratio={ratio:.2f} simulator_peak_mib={peak:.1f}")
    figure(
        f"simulate_campaign --scale {SCALE}, wall time",
        wall,
        "s",
        reference=indexed,
        target=f"ratio <= {TARGET_RATIO}",
        passed=passed[3],
    )
    figure(
        "simulate_campaign, peak memory",
        peak,
        "MiB",
        reference=None,
        target=f"< {TARGET_PEAK_MIB} MiB",
        passed=passed[5],
    )
    return 0 if all(passed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
