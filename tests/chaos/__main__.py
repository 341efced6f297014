"""``python -m tests.chaos [--seed N] [--duration S] [--long]``: one chaos run, then a report.

Exit status 0 when no anomaly was found, 1 otherwise. ``--long`` is a soak run:
30 minutes of faults unless ``--duration`` says otherwise. ``--keep`` leaves the data
directories and member logs in place for a post-mortem.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import tempfile
from pathlib import Path

from tests.chaos.runner import RunConfig, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="schedule seed (default: random)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of faults")
    parser.add_argument("--long", action="store_true", help="soak run (default 1800 s)")
    parser.add_argument("--min-faults", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep data dirs and logs")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    duration = args.duration if args.duration is not None else (1800.0 if args.long else 60.0)
    config = RunConfig(
        seed=seed,
        duration=duration,
        min_faults=args.min_faults,
        checker_budget=300.0 if args.long else 30.0,
    )
    tmp = Path(tempfile.mkdtemp(prefix=f"kvstore-chaos-{seed}-"))
    try:
        report = run(config, tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report.render())
    if args.keep:
        print(f"data and logs kept in {tmp}")
    if report.anomalies:
        print(f"replay with: python -m tests.chaos --seed {seed} --duration {duration:g}")
    return 1 if report.anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
