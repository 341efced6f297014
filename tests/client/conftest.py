"""Fixtures for the client tests: real servers only, parametrized over backends.

``server`` is one long-lived server per backend for the whole session (tests use
their own key namespace ``ns``); ``fresh_server`` starts a new one for tests that
change global state (compaction, membership).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kvstore.client import Client
from tests.support.procs import ServerProcess, etcd_binary, etcd_process, kvstore_process, running

BACKENDS = ["etcd", "kvstore"]


def _make(kind: str, tmp: Path) -> ServerProcess:
    if kind == "etcd":
        if etcd_binary() is None:
            pytest.fail("Debian's etcd-server is not installed (tests/run.sh installs it)")
        return etcd_process(tmp)
    return kvstore_process(tmp)


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    kind = str(request.param)
    with running(_make(kind, tmp_path_factory.mktemp(kind))) as proc:
        yield proc


@pytest.fixture(params=BACKENDS)
def fresh_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    kind = str(request.param)
    with running(_make(kind, tmp_path)) as proc:
        yield proc


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    async with Client([server.endpoint], request_timeout=10.0) as c:
        yield c


@pytest.fixture
def ns() -> bytes:
    """A key prefix no other test uses."""
    return f"/test/{uuid.uuid4().hex[:12]}/".encode()
