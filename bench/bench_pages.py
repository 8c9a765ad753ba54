"""Benchmark: the ops overview in a real browser on the demo data, as `make run` serves it.

    python bench/bench_pages.py [--runs 5]          (or `make bench`)

Needs PostgreSQL (BENCH_PAGES_DATABASE_URL, by default
postgres://postgres@127.0.0.1:5432/greenbox_bench_pages, dropped and recreated on every run,
because the demo is only loaded into an empty database) and Debian's chromium with Playwright
(as the browser tests). It loads the demo with `manage.py load_demo_data` (and prints how long
that took: `make run` waits for it on a first start), then serves the site twice:

1. as `make run` does: `manage.py runserver` with DEBUG=1 (static files from the apps, as they
   are: no compression);
2. as production does: `manage.py collectstatic` (whitenoise's CompressedManifestStaticFilesStorage
   writes a .gz beside each file, and a .br when the Brotli package is installed) and gunicorn
   with DEBUG off, whitenoise serving the compressed files to a browser that accepts them.

Each time it signs in as the demo's ops user and opens /ops/ in a fresh browser context (an
empty cache: the first visit) `--runs` times, and reads from the page itself:
- the first chart drawn: the "greenbox-chart-drawn" performance mark that charts.js sets when
  plotly.js has drawn the page's first chart, in ms from the navigation's start (when the page
  was requested), the median of the runs; the reference, measured the same way in the same
  run, is the time to load a page without charts from the same server (the sign-in page, its
  load event), so the ratio says what the charts cost beyond the server's own speed;
- the overview's scripts on the wire: the transferSize (compressed bytes plus headers) of every
  script the page loaded, summed.

It prints a table and one BENCH line per judged figure (bench/report.py); the targets come from
issue 15: the first chart within 1.5 s, the scripts under 1.5 MB on the wire. The exit status is
1 if a target is missed.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from database import ensure_database  # bench/database.py
from report import figure  # bench/report.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
DATABASE_URL = os.environ.get("BENCH_PAGES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/greenbox_bench_pages")
CHROMIUM = "/usr/bin/chromium"
FIRST_CHART_TARGET_MS = 1500.0
SCRIPTS_TARGET_BYTES = 1_500_000
OPS_USER, PASSWORD = "ops", "greenbox-demo"  # the demo's (recycling/demo.py)
MARK = "greenbox-chart-drawn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(*, debug: bool) -> dict:
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    env.pop("REDIS_URL", None)  # the pages need no broker; nothing is queued by reading them
    if debug:
        env["DEBUG"] = "1"
    else:
        env.pop("DEBUG", None)
        env |= {"SECRET_KEY": "bench-pages-" + "x" * 50, "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    return env


def manage(*args: str, debug: bool = True) -> float:
    started = time.perf_counter()
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=environment(debug=debug), check=True)
    return time.perf_counter() - started


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited ({process.returncode}) before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"no answer from {url} within {seconds} s")


def serve(mode: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    if mode == "make run":
        command = [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        env = environment(debug=True)
    else:
        command = [
            str(Path(PYTHON).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ]
        env = environment(debug=False)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(f"{base}/ops/login/", process)
    return process, base


def measure(base: str, runs: int) -> dict:
    """Median first-chart and reference times (ms) and the scripts' bytes on the wire."""
    from playwright.sync_api import sync_playwright

    charts, references, wire = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            signing_in = browser.new_context(locale="zh-CN")
            page = signing_in.new_page()
            page.goto(f"{base}/ops/login/")
            page.fill("#id_username", OPS_USER)
            page.fill("#id_password", PASSWORD)
            page.click("[data-testid=ops-login] button[type=submit]")
            page.wait_for_url(f"{base}/ops/")
            session = signing_in.storage_state()
            signing_in.close()
            desktop = {"width": 1280, "height": 800}
            for run in range(runs + 1):  # the first run warms the server (templates, connections)
                context = browser.new_context(locale="zh-CN", storage_state=session, viewport=desktop)
                page = context.new_page()
                page.goto(f"{base}/ops/login/", wait_until="load")
                reference = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
                page.goto(f"{base}/ops/", wait_until="commit")
                page.wait_for_function(f"() => performance.getEntriesByName('{MARK}').length > 0", timeout=30_000)
                chart = page.evaluate(f"performance.getEntriesByName('{MARK}')[0].startTime")
                scripts = page.evaluate(
                    "performance.getEntriesByType('resource').filter(r => r.initiatorType === 'script')"
                    ".reduce((sum, r) => sum + r.transferSize, 0)"
                )
                context.close()
                if run:
                    charts.append(chart)
                    references.append(reference)
                    wire.append(scripts)
        finally:
            browser.close()
    return {"chart": statistics.median(charts), "reference": statistics.median(references), "wire": max(wire)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="page loads per mode (default 5; the median is judged)")
    runs = parser.parse_args().runs
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    ensure_database(DATABASE_URL, recreate=True)
    manage("migrate", "--no-input", "-v", "0")
    load_seconds = manage("load_demo_data", "-v", "0")
    print(f"load_demo_data: {load_seconds:.1f} s (with the process start)")
    figure("load_demo_data", load_seconds, "s", reference=None, target="info", passed=True)

    results = {}
    for mode in ("make run", "production"):
        if mode == "production":
            manage("collectstatic", "--no-input", "-v", "0", debug=False)
        process, base = serve(mode)
        try:
            results[mode] = measure(base, runs)
        finally:
            process.terminate()
            process.wait(timeout=30)

    passed = True
    print(f"\n{'mode':<12} {'first chart':>12} {'sign-in page':>13} {'ratio':>6} {'scripts on the wire':>20}")
    for mode, result in results.items():
        chart, reference, wire = result["chart"], result["reference"], result["wire"]
        chart_ok, wire_ok = chart < FIRST_CHART_TARGET_MS, wire < SCRIPTS_TARGET_BYTES
        passed = passed and chart_ok and wire_ok
        print(f"{mode:<12} {chart:>9.0f} ms {reference:>10.0f} ms {chart / reference:>6.2f} {wire / 1e6:>16.3f} MB")
        figure(
            f"overview, first chart drawn ({mode})",
            chart,
            "ms",
            reference=reference,
            target=f"< {FIRST_CHART_TARGET_MS:.0f} ms",
            passed=chart_ok,
        )
        figure(
            f"overview scripts on the wire ({mode})",
            wire / 1e6,
            "MB",
            reference=None,
            target=f"< {SCRIPTS_TARGET_BYTES / 1e6} MB",
            passed=wire_ok,
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
