"""Fixtures that run the same tests against Debian's etcd and against kvstore.

Backends are chosen with ``--backends=etcd,kvstore`` or the environment
variable ``KVSTORE_TEST_BACKENDS`` (default: both). Every test that uses the
``backend`` fixture, directly or through ``endpoint``/``server``/a stub, is
parametrized over the selected backends; ``@pytest.mark.backends("kvstore")``
narrows a test to some of them.

- ``endpoint``: host:port of a fresh server per test (etcd as a process,
  kvstore in-process via ``tests.support.inproc``).
- ``server``: a fresh real process (``etcd_process``/``kvstore_process``) for
  the etcdctl compat tests.
- ``kv``, ``watch``, ``lease``, ``maint``, ``cluster``: sync stubs on one channel.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from kvstore.pb import rpc_pb2_grpc
from tests.support.procs import ServerProcess, etcd_process, kvstore_process, running
from tests.support.rpc import open_channel

ALL_BACKENDS = ("etcd", "kvstore")
BACKENDS_ENV = "KVSTORE_TEST_BACKENDS"

# etcd elects itself in ~0.6 s with its default 100 ms heartbeat; these ticks make
# it ~0.08 s. They also lower etcd's minimum lease TTL (1.5 election timeouts,
# rounded up) from 2 s to 1 s, so tests that depend on the minimum TTL are marked
# ``etcd_default_timing`` and get etcd's defaults.
FAST_ETCD_FLAGS = ["--heartbeat-interval=10", "--election-timeout=50"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=None,
        help=f"comma-separated backends to test (etcd,kvstore); default ${BACKENDS_ENV} or both",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run only against these backends")
    config.addinivalue_line(
        "markers", "etcd_default_timing: start etcd with its default heartbeat/election timeout"
    )


def selected_backends(config: pytest.Config) -> list[str]:
    raw = config.getoption("--backends") or os.environ.get(BACKENDS_ENV) or ",".join(ALL_BACKENDS)
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ALL_BACKENDS))
    if unknown:
        raise pytest.UsageError(f"unknown backend(s) {unknown}; choose from {ALL_BACKENDS}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    names = selected_backends(metafunc.config)
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is not None:
        names = [name for name in names if name in marker.args]
    metafunc.parametrize("backend", names)


def process_for(
    backend: str, tmp: Path, name: str = "default", *, fast: bool = True
) -> ServerProcess:
    """A not yet started server process of ``backend``."""
    if backend == "etcd":
        proc = etcd_process(tmp, name)
        if fast:
            proc.argv.extend(FAST_ETCD_FLAGS)
        return proc
    return kvstore_process(tmp, name)


def _fast(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("etcd_default_timing") is None


@contextlib.contextmanager
def _running_endpoint(backend: str, tmp: Path, fast: bool) -> Iterator[str]:
    if backend == "etcd":
        with running(process_for(backend, tmp, fast=fast)) as proc:
            yield proc.endpoint
    else:
        # Imported lazily: the in-process server is written alongside these tests.
        from tests.support.inproc import running_inproc  # type: ignore[import-not-found]

        with running_inproc(tmp) as server:
            yield server.endpoint


@pytest.fixture
def start_endpoint(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """Start another fresh server of this backend; return its endpoint (stopped at teardown)."""
    with contextlib.ExitStack() as stack:
        counter = iter(range(1_000))

        def start() -> str:
            tmp = tmp_path / f"server{next(counter)}"
            tmp.mkdir()
            return stack.enter_context(_running_endpoint(backend, tmp, _fast(request)))

        yield start


@pytest.fixture
def endpoint(start_endpoint: Callable[[], str]) -> str:
    return start_endpoint()


@pytest.fixture
def server(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    with running(process_for(backend, tmp_path, fast=_fast(request))) as proc:
        yield proc


@pytest.fixture
def channel(endpoint: str) -> Iterator[grpc.Channel]:
    with open_channel(endpoint) as chan:
        yield chan


@pytest.fixture
def kv(channel: grpc.Channel) -> rpc_pb2_grpc.KVStub:
    return rpc_pb2_grpc.KVStub(channel)


@pytest.fixture
def watch(channel: grpc.Channel) -> rpc_pb2_grpc.WatchStub:
    return rpc_pb2_grpc.WatchStub(channel)


@pytest.fixture
def lease(channel: grpc.Channel) -> rpc_pb2_grpc.LeaseStub:
    return rpc_pb2_grpc.LeaseStub(channel)


@pytest.fixture
def maint(channel: grpc.Channel) -> rpc_pb2_grpc.MaintenanceStub:
    return rpc_pb2_grpc.MaintenanceStub(channel)


@pytest.fixture
def cluster(channel: grpc.Channel) -> rpc_pb2_grpc.ClusterStub:
    return rpc_pb2_grpc.ClusterStub(channel)
