"""Real processes for the agent tests: a kvstore member, a controller-manager and
node agents with fast timings. Every process is owned by a context manager that
kills and reaps it, and every pod process an agent recorded is killed on exit too —
also when the test fails."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kvstore.agent import procs
from tests.support.procs import REPO_ROOT

WEBSERVER = str(REPO_ROOT / "examples" / "webserver.py")

GRACE = 2.0
"""Node monitor grace period of the test controller-manager (seconds)."""
TOLERATION = 2.0
"""Pod eviction timeout of the test controller-manager (seconds)."""


def manager_argv(endpoint: str) -> list[str]:
    return [
        sys.executable, "-m", "kvstore", "controller-manager",
        "--endpoints", endpoint,
        "--leader-elect-lease-duration", "2",
        "--resync-period", "5",
        "--expectations-timeout", "5",
        "--scheduler-backoff", "0.2",
        "--node-monitor-period", "0.5",
        "--node-monitor-grace-period", str(GRACE),
        "--pod-eviction-timeout", str(TOLERATION),
        "--node-eviction-rate", "20",
    ]  # fmt: skip


def agent_argv(endpoint: str, name: str, data_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "kvstore", "agent",
        "--node-name", name,
        "--endpoints", endpoint,
        "--data-dir", str(data_dir),
        "--cpu", "4", "--memory", "8Gi",
        "--heartbeat-interval", "0.5",
        "--sync-interval", "0.1",
        "--backoff-base", "0.4",
        "--backoff-max", "10",
        "--proxy-bind-retry", "0.3",
        "--resync-period", "2",
    ]  # fmt: skip


@contextlib.contextmanager
def owned(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv``; on exit SIGTERM it, SIGKILL after 10 s, and reap it."""
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(timeout=10)


def recorded_pids(data_dir: Path) -> list[procs.ProcessRecord]:
    out = []
    for path in (data_dir / "pods").glob("*/*.json"):
        record = procs.load(path) if path.name != "ports.json" else None
        if record is not None:
            out.append(record)
    return out


def kill_recorded(data_dir: Path) -> None:
    """The safety net: kill every pod process group an agent recorded."""
    for record in recorded_pids(data_dir):
        procs.kill_record(record)


@dataclass
class Agent:
    name: str
    data_dir: Path
    log: Path
    endpoint: str
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.stack.callback(kill_recorded, self.data_dir)
        self.proc = self.stack.enter_context(
            owned(agent_argv(self.endpoint, self.name, self.data_dir), self.log)
        )

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def close(self) -> None:
        self.stack.close()


def http_get(port: int, path: str = "/", limit: float = 2.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=limit) as resp:
        return str(resp.read().decode()).strip()
