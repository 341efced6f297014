"""``python -m bench``: run the workloads against kvstore and etcd and report ratios."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from bench import report, runner
from bench.config import BenchConfig, mode_settings
from bench.plot import write_plot

BENCH_DIR = Path(__file__).resolve().parent
KNOWN_SYSTEMS = ("kvstore", "etcd")


def _csv(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="whole run in under 3 minutes")
    mode.add_argument(
        "--smoke", action="store_true", help="tiny sizes, ~0.5 s per workload (tests)"
    )
    p.add_argument(
        "--systems", type=_csv, default=KNOWN_SYSTEMS, help="kvstore,etcd (default both)"
    )
    p.add_argument("--members", type=_csv, default=("1",), help="cluster sizes: 1, 3 or 1,3")
    p.add_argument(
        "--out", type=Path, default=BENCH_DIR / "results", help="JSON and plot directory"
    )
    p.add_argument("--markdown", type=Path, default=BENCH_DIR / "RESULTS.md", help="table file")
    p.add_argument(
        "--loadgen-procs",
        type=int,
        default=max(2, min(4, os.cpu_count() or 2)),
        help="load generator worker processes (at least 2: watch needs a putter and watchers)",
    )
    return p


def build_config(args: argparse.Namespace) -> BenchConfig:
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    unknown = set(args.systems) - set(KNOWN_SYSTEMS)
    if unknown or not args.systems:
        raise SystemExit(f"--systems: unknown {sorted(unknown)}; choose from {KNOWN_SYSTEMS}")
    members = tuple(int(m) for m in args.members)
    if any(m not in (1, 3) for m in members):
        raise SystemExit("--members: 1 and/or 3")
    if args.loadgen_procs < 2:
        raise SystemExit("--loadgen-procs: at least 2")
    timing, sizes = mode_settings(mode)
    return BenchConfig(
        mode=mode,
        timing=timing,
        sizes=sizes,
        systems=args.systems,
        members=members,
        loadgen_procs=args.loadgen_procs,
        out_dir=args.out,
        markdown_path=args.markdown,
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    config = build_config(parser().parse_args(argv))
    # Ctrl-C and SIGTERM both unwind through the finally blocks that kill the servers
    # (set explicitly: a shell may start a background job with SIGINT ignored).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"bench: mode={config.mode} systems={','.join(config.systems)} members={config.members}")
    load1, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load1 > cores / 2:
        print(
            f"bench: WARNING load average {load1:.1f} on {cores} cores; "
            "other work on the machine will skew the results"
        )
    try:
        result = runner.run(config, lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("bench: interrupted; servers and workers stopped", file=sys.stderr)
        return 130
    path = report.write_json(result, config.out_dir)
    report.write_markdown(result, config.markdown_path)
    plotted = write_plot(result, config.out_dir / "latest.png")
    print(f"bench: wrote {path}, {config.markdown_path}" + (", latest.png" if plotted else ""))
    if not plotted:
        print("bench: matplotlib is not installed; no plot (pip install matplotlib)")
    failed = report.failed_checks(result)
    for line in failed:
        print(f"bench: CHECK FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
