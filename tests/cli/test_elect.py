"""kvctl elect: candidates, a leader handing over on SIGTERM, an observer (-l),
all real kvctl processes."""

from __future__ import annotations

import re
import signal
import subprocess

from tests.cli.conftest import Kvctl, ok
from tests.cli.test_watch_lease import kvctl_process
from tests.client.helpers import reap
from tests.support.procs import ServerProcess, wait_until


def _lines(proc: subprocess.Popen[str], n: int) -> list[str]:
    assert proc.stdout is not None
    return [proc.stdout.readline().rstrip("\n") for _ in range(n)]


def _keys(kvctl: Kvctl, name: str) -> list[str]:
    return ok(kvctl("get", name + "/", "--prefix", "--keys-only")).split()


def test_leader_hands_over_on_sigterm_and_the_observer_sees_both(
    server: ServerProcess, kvctl: Kvctl, ns: str
) -> None:
    name = ns + "election"
    procs: list[subprocess.Popen[str]] = []
    try:
        first = kvctl_process(server.endpoint, "elect", name, "p1")
        procs.append(first)
        key1, value1 = _lines(first, 2)
        assert re.fullmatch(re.escape(name) + r"/[0-9a-f]+", key1) and value1 == "p1"
        observer = kvctl_process(server.endpoint, "elect", "-l", name)
        procs.append(observer)
        assert _lines(observer, 2) == [key1, "p1"]
        second = kvctl_process(server.endpoint, "elect", name, "p2")
        procs.append(second)
        wait_until(lambda: len(_keys(kvctl, name)) == 2)  # a candidate behind the leader
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0  # resigned
        key2, value2 = _lines(second, 2)
        assert value2 == "p2" and key2 != key1
        assert _lines(observer, 2) == [key2, "p2"]
        observer.send_signal(signal.SIGINT)
        assert observer.wait(timeout=15) == 0
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0
        assert _keys(kvctl, name) == []
    finally:
        for proc in procs:
            reap(proc)


def test_interrupted_while_campaigning_fails_and_withdraws(
    server: ServerProcess, kvctl: Kvctl, ns: str
) -> None:
    name = ns + "election"
    leader = kvctl_process(server.endpoint, "elect", name, "p1")
    candidate: subprocess.Popen[str] | None = None
    try:
        key1, _ = _lines(leader, 2)
        candidate = kvctl_process(server.endpoint, "elect", name, "p2")
        wait_until(lambda: len(_keys(kvctl, name)) == 2)
        candidate.send_signal(signal.SIGINT)
        _, err = candidate.communicate(timeout=15)
        assert candidate.returncode == 1 and err == "Error: interrupted while campaigning\n"
        assert _keys(kvctl, name) == [key1]
    finally:
        reap(leader)
        if candidate is not None:
            reap(candidate)


def test_a_proposal_or_listen_is_required(kvctl: Kvctl, ns: str) -> None:
    result = kvctl("elect", ns + "election")
    assert result.exit_code == 128
    assert "no proposal argument but -l not set" in result.stderr
