"""Copy the front-end files GreenBox serves from node_modules/ into the apps' static folders.

The packages are pinned in package.json and package-lock.json (npm's integrity hashes); the files
the pages use are listed in vendor.txt, one "node_modules path -> static path" per line, licence
files included. The copies are committed, so `make run` needs no Node.js; `make vendor` refreshes
them after `npm ci`, and `make vendor-check` (run by .ci/run) fails if a committed copy differs
from the pinned package's file.

    python frontend/vendor.py           copy every listed file
    python frontend/vendor.py --check   compare only; exit 1 naming each file that differs
"""

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def listed_files() -> list[tuple[Path, Path]]:
    pairs = []
    for line in (HERE / "vendor.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            source, target = (part.strip() for part in line.split("->"))
            pairs.append((HERE / "node_modules" / source, ROOT / target))
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare the committed copies, change nothing")
    check = parser.parse_args().check
    stale = []
    for source, target in listed_files():
        if not source.exists():
            sys.exit(f"{source.relative_to(HERE)} is missing: run `npm ci --ignore-scripts` in frontend/ first")
        if check:
            if not target.exists() or target.read_bytes() != source.read_bytes():
                stale.append(str(target.relative_to(ROOT)))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            print(f"{target.relative_to(ROOT)}")
    if stale:
        print("These copies differ from the pinned packages (run `make vendor`):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
