"""A 3-member kvstore cluster on free ports, for CLI and failover tests.

``plan_cluster(tmp)`` picks names, client and peer ports and writes the peer
secret; ``plan.processes()`` builds the members (optionally on prepared data
dirs, e.g. restored from a snapshot); ``kvstore_cluster(tmp)`` starts them and
kills and reaps every member on exit, also when the body raises.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import ServerProcess, free_port


@dataclass(frozen=True)
class ClusterPlan:
    tmp: Path
    names: list[str]
    client_ports: list[int]
    peer_ports: list[int]
    secret_file: Path

    @property
    def initial_cluster(self) -> str:
        return ",".join(
            f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer_ports, strict=True)
        )

    def peer_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.peer_ports[index]}"

    def data_dir(self, index: int) -> Path:
        return self.tmp / f"{self.names[index]}.kvstore"

    def processes(self) -> list[ServerProcess]:
        members = []
        for i, (name, cport) in enumerate(zip(self.names, self.client_ports, strict=True)):
            argv = [
                sys.executable, "-m", "kvstore",
                "--name", name,
                "--data-dir", str(self.data_dir(i)),
                "--listen-client-urls", f"http://127.0.0.1:{cport}",
                "--advertise-client-urls", f"http://127.0.0.1:{cport}",
                "--initial-cluster", self.initial_cluster,
                "--peer-secret-file", str(self.secret_file),
                "--log-level", "warn",
            ]  # fmt: skip
            members.append(
                ServerProcess(
                    "kvstore", name, self.data_dir(i), cport, argv, self.tmp / f"{name}.log"
                )
            )
        return members


def plan_cluster(tmp: Path, size: int = 3, prefix: str = "n") -> ClusterPlan:
    secret = tmp / "peer-secret"
    secret.write_text(f"secret-{free_port()}\n")
    return ClusterPlan(
        tmp=tmp,
        names=[f"{prefix}{i}" for i in range(1, size + 1)],
        client_ports=[free_port() for _ in range(size)],
        peer_ports=[free_port() for _ in range(size)],
        secret_file=secret,
    )


@contextlib.contextmanager
def started(members: list[ServerProcess]) -> Iterator[list[ServerProcess]]:
    """Start ``members`` together (they need each other to elect a leader); always reap."""
    try:
        for member in members:
            member.start(wait=False)
        for member in members:
            member.wait_ready(timeout=30.0)
        yield members
    finally:
        for member in members:
            member.kill()


@contextlib.contextmanager
def kvstore_cluster(tmp: Path, size: int = 3) -> Iterator[list[ServerProcess]]:
    with started(plan_cluster(tmp, size).processes()) as members:
        yield members
