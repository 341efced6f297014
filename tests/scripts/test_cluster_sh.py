"""cluster.sh drives a real local cluster: start, status, kill, restart, stop, clean."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.http import get
from tests.support.procs import REPO_ROOT, wait_until


def _free_base() -> int:
    """A base port P with P, P+1 and P+2 free, and the same past P+20000 and P+30000."""
    for _ in range(200):
        # all six below the ephemeral range (32768-60999 here), where an
        # outgoing connection could take a port between this check and its use
        base = random.randint(1100, 2700)
        ports = [b + i for b in (base, base + 20000, base + 30000) for i in range(3)]
        try:
            socks = []
            for port in ports:
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError("no free base port")


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KVSTORE_CLUSTER_DIR": str(tmp / "cluster"), "KVSTORE_STOP_GRACE": "2"}
    return subprocess.run(
        ["bash", str(REPO_ROOT / "cluster.sh"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_cluster_sh_lifecycle(tmp_path: Path) -> None:
    base = _free_base()
    endpoints = [f"127.0.0.1:{p}" for p in (base, base + 20000, base + 30000)]
    try:
        started = run(tmp_path, "start", "3", "--base-port", str(base))
        assert started.returncode == 0, started.stderr + started.stdout
        assert f"endpoints: {','.join(endpoints)}" in started.stdout
        assert "etcdctl --endpoints=http://" in started.stdout
        rows = [line for line in started.stdout.splitlines() if line.startswith("m")]
        assert len(rows) == 3
        assert sum(" * " in f" {row} " for row in rows) == 1  # exactly one leader

        with grpc.insecure_channel(endpoints[1]) as ch:
            rpc_pb2_grpc.KVStub(ch).Put(rpc_pb2.PutRequest(key=b"sh", value=b"ok"), timeout=10)
        for port in (base + 2, base + 20002, base + 30002):  # etcd's 2379 -> 2381
            wait_until(lambda p=port: get(f"http://127.0.0.1:{p}/health")[0] == 200, timeout=30)

        killed = run(tmp_path, "kill", "m1")
        assert killed.returncode == 0 and "killed m1" in killed.stdout
        status = run(tmp_path, "status")
        assert "down" in status.stdout.splitlines()[1]  # m1's row

        assert run(tmp_path, "restart", "m1").returncode == 0

        def m1_has_data() -> bool:
            with grpc.insecure_channel(endpoints[0]) as ch:
                resp = rpc_pb2_grpc.KVStub(ch).Range(
                    rpc_pb2.RangeRequest(key=b"sh", serializable=True), timeout=2
                )
            return resp.count == 1

        wait_until(m1_has_data, timeout=30)
        logs = run(tmp_path, "logs", "m1")
        assert "serving name=m1" in logs.stdout

        # a member that does not exit on SIGTERM (stopped here) is killed after
        # the grace, and the new one starts on its data dir
        stuck = int((tmp_path / "cluster" / "m2.pid").read_text())
        os.kill(stuck, signal.SIGSTOP)
        restarted = run(tmp_path, "restart", "m2")
        assert restarted.returncode == 0, restarted.stderr + restarted.stdout
        assert int((tmp_path / "cluster" / "m2.pid").read_text()) != stuck
        wait_until(lambda: "serving name=m2" in run(tmp_path, "logs", "m2").stdout, timeout=30)
        assert "in use by another process" not in run(tmp_path, "logs", "m2").stdout

        assert run(tmp_path, "stop").returncode == 0
        assert not list((tmp_path / "cluster").glob("*.pid"))
        assert run(tmp_path, "bogus").returncode == 2
    finally:
        run(tmp_path, "clean")
    assert not (tmp_path / "cluster").exists()


def test_cluster_sh_start_rejects_bad_arguments_before_creating_anything(tmp_path: Path) -> None:
    for args, message in (
        (("start", "3", "--base-port", "60000"), "m3 would listen on port 90002, past 65535"),
        (("start", "x"), "unknown argument x"),
        (("start", "--base-port"), "--base-port needs a port number"),
        (("start", "--base-port", "12ab"), "--base-port must be a port number"),
        (("start", "0"), "N must be a whole number, at least 1"),
        (("start", "3x"), "N must be a whole number, at least 1"),
    ):
        result = run(tmp_path, *args)
        assert result.returncode == 1, args
        assert message in result.stderr, (args, result.stderr)
        assert not (tmp_path / "cluster").exists(), args


def test_cluster_sh_start_fails_when_a_member_cannot_start(tmp_path: Path) -> None:
    """A member that exits at start (here: its client port is taken) fails
    ``start`` with its log's last lines, although the other two elect a
    leader; once the port is free, ``start`` brings up the missing member."""
    base = _free_base()
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", base + 20000))  # m2's client port
        taken.listen()
        started = run(tmp_path, "start", "3", "--base-port", str(base))
        assert started.returncode == 1, started.stdout
        assert "m2 exited while starting" in started.stderr
        assert "cannot listen for clients" in started.stderr
        assert "not every member is running (m2)" in started.stderr
        taken.close()
        again = run(tmp_path, "start", "3", "--base-port", str(base))
        assert again.returncode == 0, again.stderr + again.stdout
        assert "m1 is already running" in again.stdout
        assert "m2 is already running" not in again.stdout

        def m2_serves() -> bool:
            with grpc.insecure_channel(f"127.0.0.1:{base + 20000}") as ch:
                status = rpc_pb2_grpc.MaintenanceStub(ch).Status(rpc_pb2.StatusRequest(), timeout=2)
            return status.leader != 0

        wait_until(m2_serves, timeout=30)
    finally:
        taken.close()
        run(tmp_path, "clean")
    assert not (tmp_path / "cluster").exists()
