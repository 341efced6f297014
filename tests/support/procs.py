"""Real server processes for tests: kvstore members and Debian's etcd.

Every process started here is owned by a context manager that kills and reaps
it on exit, also when the test body raises. Ports are picked at run time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from kvstore.ports import pick_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (see kvstore.ports)."""
    return pick_port()


def wait_until(predicate: object, timeout: float = 15.0, interval: float = 0.05) -> None:
    """Poll ``predicate()`` until it is truthy; fail after ``timeout`` seconds."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s (last error: {last!r})")


def endpoint_ready(endpoint: str) -> bool:
    """True once ``endpoint`` answers a Maintenance.Status call."""
    with grpc.insecure_channel(endpoint) as channel:
        stub = rpc_pb2_grpc.MaintenanceStub(channel)
        try:
            stub.Status(rpc_pb2.StatusRequest(), timeout=1.0)
        except grpc.RpcError:
            return False
    return True


@dataclass
class ServerProcess:
    """A running server: ``endpoint`` is host:port, ``url`` the etcdctl form."""

    kind: str
    name: str
    data_dir: Path
    client_port: int
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self, wait: bool = True) -> None:
        env = dict(os.environ)
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT
        )
        log.close()
        if wait:
            self.wait_ready()

    def run_to_exit(self, timeout: float = 30.0) -> int:
        """Start a server that should refuse to run; its exit status (it is
        killed and reaped if it is still running after ``timeout``)."""
        self.start(wait=False)
        try:
            assert self.proc is not None
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            return endpoint_ready(self.endpoint)

        wait_until(ready, timeout=timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` and reap the process."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def kvstore_process(
    tmp: Path, name: str = "default", extra: list[str] | None = None
) -> ServerProcess:
    port = free_port()
    data_dir = tmp / f"{name}.kvstore"
    argv = [
        *member_argv("kvstore"),
        "--name",
        name,
        "--data-dir",
        str(data_dir),
        "--listen-client-urls",
        f"http://127.0.0.1:{port}",
        "--advertise-client-urls",
        f"http://127.0.0.1:{port}",
        *(extra or []),
    ]
    return ServerProcess("kvstore", name, data_dir, port, argv, tmp / f"{name}.kvstore.log")


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process ``pid`` has open (from /proc/PID/fd);
    empty if it is gone."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    return inodes


def etcd_binary() -> str | None:
    return shutil.which("etcd")


def member_argv(system: str) -> list[str]:
    """The command that runs a member of ``system``: Debian's etcd, or kvstore."""
    if system != "etcd":
        return [sys.executable, "-m", "kvstore"]
    binary = etcd_binary()
    if binary is None:
        raise RuntimeError("Debian's etcd-server is not installed (apt-get install etcd-server)")
    return [binary]


def run_to_end(
    argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a server command that should end on its own (one that refuses to
    start), with ``env`` added to this environment; its output and status."""
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=False,
    )


def etcd_process(tmp: Path, name: str = "default", extra: list[str] | None = None) -> ServerProcess:
    binary = member_argv("etcd")[0]
    port, peer = free_port(), free_port()
    data_dir = tmp / f"{name}.etcd"
    argv = [
        binary,
        "--name",
        name,
        "--data-dir",
        str(data_dir),
        "--listen-client-urls",
        f"http://127.0.0.1:{port}",
        "--advertise-client-urls",
        f"http://127.0.0.1:{port}",
        "--listen-peer-urls",
        f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls",
        f"http://127.0.0.1:{peer}",
        "--initial-cluster",
        f"{name}=http://127.0.0.1:{peer}",
        "--log-level",
        "error",
        *(extra or []),
    ]
    env = {"ETCD_UNSUPPORTED_ARCH": os.uname().machine} if os.uname().machine != "x86_64" else {}
    return ServerProcess(
        "etcd", name, data_dir, port, argv, tmp / f"{name}.etcd.log", extra_env=env
    )


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    """Start ``server`` and always kill and reap it afterwards."""
    try:
        server.start()
        yield server
    finally:
        server.kill()
