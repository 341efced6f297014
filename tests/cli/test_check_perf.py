"""kvctl check perf: etcdctl's performance check against a real kvstore: it
writes etcdctl's keys at the load's rate, deletes them, reports in etcdctl's
lines, and refuses what etcdctl refuses with the same exit codes. The verdict's
bounds are tested on given latencies (speed itself is never asserted)."""

from __future__ import annotations

import re
import signal

import pytest

from kvstore.cli.check import LOADS, Run, verdict
from kvstore.client import SyncClient
from tests.cli.conftest import Kvctl, invoke
from tests.cli.test_watch_lease import kvctl_process
from tests.client.helpers import reap
from tests.support.etcdctl import Etcdctl
from tests.support.procs import ServerProcess, wait_until

REPORT = [
    r"(PASS: Throughput is|FAIL: Throughput too low:) \d+ writes/s",
    r"(PASS: Slowest request took|FAIL: Slowest request took too long:) \d+\.\d{6}s",
    r"(PASS: Stddev is|FAIL: Stddev too high:) \d+\.\d{6}s",
]


def test_check_perf_writes_etcdctls_keys_at_the_rate_and_deletes_them(
    fresh_server: ServerProcess,
) -> None:
    prefix = "/perf/"
    with SyncClient([fresh_server.endpoint]) as client:
        before = client.status().header.revision
        result = invoke(
            fresh_server.endpoint, "check", "perf", "--prefix", prefix, "--duration", "2s"
        )
        lines = result.stdout.splitlines()
        assert len(lines) == 4, result.stdout + result.stderr
        for line, pattern in zip(lines, REPORT, strict=False):
            assert re.fullmatch(pattern, line), line
        passed = all(line.startswith("PASS") for line in lines[:3])
        assert lines[3] == ("PASS" if passed else "FAIL")
        assert result.exit_code == (0 if passed else 1)
        after = client.status().header.revision
        # at most 150 writes a second for 2 s, then one delete of them all
        writes = after - before - 1
        assert 0 < writes <= 2 * LOADS["s"].rate
        assert client.get_prefix(prefix, count_only=True).count == 0
        first = client.get_prefix(prefix, revision=before + 1).kvs
        assert len(first) == 1
        assert len(first[0].key) == len(prefix) + 256 and first[0].value == bytes(1024)
        deleted = client.get_prefix(prefix, revision=after - 1, count_only=True).count
        assert deleted == writes


def test_check_perf_auto_compact_and_defrag(fresh_server: ServerProcess) -> None:
    endpoint = fresh_server.endpoint
    result = invoke(
        endpoint, "check", "perf", "--duration", "1s", "--auto-compact", "--auto-defrag"
    )
    assert result.stdout.splitlines()[-1] in ("PASS", "FAIL"), result.stderr
    with SyncClient([endpoint]) as client:
        last = client.status().header.revision
        with pytest.raises(Exception, match="required revision has been compacted"):
            client.get(b"x", revision=last - 1)


def test_check_perf_refuses_as_etcdctl(server: ServerProcess, kvctl: Kvctl, ns: str) -> None:
    etcdctl = Etcdctl(server.url)
    bogus = kvctl("check", "perf", "--load", "bogus")
    theirs = etcdctl.run("check", "perf", "--load", "bogus")
    assert bogus.exit_code == theirs.returncode == 4
    assert "Error: unknown load option bogus" in bogus.stderr
    assert "Error: unknown load option bogus" in theirs.stderr
    assert kvctl("put", ns + "left", "1").exit_code == 0
    busy = kvctl("check", "perf", "--prefix", ns)
    theirs = etcdctl.run("check", "perf", "--prefix", ns)
    assert busy.exit_code == theirs.returncode == 3
    said = f'prefix "{ns}" has keys. Delete with {{}} del --prefix {ns} first'
    assert said.format("kvctl") in busy.stderr
    assert said.format("etcdctl") in theirs.stderr


@pytest.mark.parametrize(
    ("latencies", "errors", "verdicts"),
    [
        ([0.01] * 140, {}, ["PASS", "PASS", "PASS"]),  # 140/s of 150: above 90%
        ([0.01] * 135, {}, ["FAIL", "PASS", "PASS"]),  # 90% exactly fails, as etcdctl's
        ([0.01] * 149 + [0.6], {}, ["PASS", "FAIL", "PASS"]),
        ([0.0] * 75 + [0.25] * 75, {}, ["PASS", "PASS", "FAIL"]),  # stddev 0.125 s
    ],
)
def test_the_verdict_uses_etcdctls_bounds(
    latencies: list[float], errors: dict[str, int], verdicts: list[str]
) -> None:
    lines, ok = verdict(Run(latencies=latencies, seconds=1.0), LOADS["s"])
    assert [line.split(":")[0] for line in lines] == verdicts
    assert ok == (verdicts == ["PASS"] * 3)


def test_errors_fail_the_check_and_are_listed() -> None:
    run = Run(latencies=[0.01] * 150, seconds=1.0)
    run.errors["etcdserver: request timed out"] = 2
    lines, ok = verdict(run, LOADS["s"])
    assert not ok
    assert lines[:2] == ["FAIL: too many errors", "FAIL: ERROR(etcdserver: request timed out) -> 2"]


def test_ctrl_c_stops_the_check_and_deletes_its_keys(server: ServerProcess, ns: str) -> None:
    """etcdctl 3.4 dies on Ctrl-C and leaves its keys behind; kvctl stops
    writing, deletes them and exits 130."""
    proc = kvctl_process(server.endpoint, "check", "perf", "--prefix", ns)
    try:
        with SyncClient([server.endpoint]) as client:
            wait_until(lambda: client.get_prefix(ns, count_only=True).count > 0, timeout=20)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 130, err
            assert f"check perf interrupted; the keys under {ns} were deleted" in err
            assert client.get_prefix(ns, count_only=True).count == 0
    finally:
        reap(proc)  # type: ignore[arg-type]
