"""Fixtures for driving Debian's etcdctl against a real server process."""

from __future__ import annotations

import pytest

from tests.support.etcdctl import Etcdctl
from tests.support.procs import ServerProcess


@pytest.fixture
def ctl(server: ServerProcess) -> Etcdctl:
    return Etcdctl(server.url)
