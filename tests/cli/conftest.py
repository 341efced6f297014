"""Fixtures for the kvctl tests: real kvstore processes, kvctl run in-process.

``kvctl(*args)`` invokes the click group with ``--endpoints`` set to the session's
server and returns click's Result (stdout, stderr and exit code kept apart). Any
exception escaping kvctl fails the test (a user would have seen a traceback).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kvstore.cli.main import cli
from tests.support.procs import ServerProcess, kvstore_process, running

Kvctl = Callable[..., Result]


def invoke(endpoints: str, *args: str, input: str | bytes | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(
        cli, ["--endpoints", endpoints, *args], input=input, catch_exceptions=False
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(kvstore_process(tmp_path_factory.mktemp("kvctl"))) as proc:
        yield proc


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own, for tests that compact or otherwise change global state."""
    with running(kvstore_process(tmp_path)) as proc:
        yield proc


@pytest.fixture
def kvctl(server: ServerProcess) -> Kvctl:
    def run(*args: str, input: str | bytes | None = None) -> Result:
        return invoke(server.endpoint, *args, input=input)

    return run


@pytest.fixture
def ns() -> str:
    """A key prefix no other test uses."""
    return f"/cli/{uuid.uuid4().hex[:10]}/"


def ok(result: Result) -> str:
    """stdout of a successful run (fails with stderr shown otherwise)."""
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"
    return result.stdout
