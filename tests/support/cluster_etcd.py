"""A 3-member etcd cluster on free ports, for failover tests.

``etcd_cluster(tmp)`` is a context manager yielding the members (ServerProcess
objects, each with its own data dir); every member is killed and reaped on exit,
also when the body raises.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from tests.support.procs import ServerProcess, free_port, member_argv


def etcd_member_processes(tmp: Path, size: int = 3) -> list[ServerProcess]:
    binary = member_argv("etcd")[0]
    names = [f"m{i}" for i in range(size)]
    client_ports = [free_port() for _ in names]
    peer_ports = [free_port() for _ in names]
    initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(names, peer_ports, strict=True))
    token = f"cluster-{client_ports[0]}"
    env = {"ETCD_UNSUPPORTED_ARCH": os.uname().machine} if os.uname().machine != "x86_64" else {}
    members = []
    for name, cport, pport in zip(names, client_ports, peer_ports, strict=True):
        argv = [
            binary,
            "--name", name,
            "--data-dir", str(tmp / f"{name}.etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{cport}",
            "--advertise-client-urls", f"http://127.0.0.1:{cport}",
            "--listen-peer-urls", f"http://127.0.0.1:{pport}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
            "--initial-cluster", initial,
            "--initial-cluster-token", token,
            "--initial-cluster-state", "new",
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--log-level", "error",
        ]  # fmt: skip
        members.append(
            ServerProcess(
                "etcd",
                name,
                tmp / f"{name}.etcd",
                cport,
                argv,
                tmp / f"{name}.etcd.log",
                extra_env=env,
            )
        )
    return members


@contextlib.contextmanager
def etcd_cluster(tmp: Path, size: int = 3) -> Iterator[list[ServerProcess]]:
    """Start ``size`` members together (they need each other to elect a leader)."""
    members = etcd_member_processes(tmp, size)
    try:
        for member in members:
            member.start(wait=False)
        for member in members:
            member.wait_ready(timeout=30.0)
        yield members
    finally:
        for member in members:
            member.kill()
