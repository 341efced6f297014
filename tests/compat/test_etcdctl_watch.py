"""etcdctl watch, lock and elect run as background processes."""

from __future__ import annotations

import json
import re
import signal

import pytest

from tests.support.etcdctl import Etcdctl
from tests.support.procs import wait_until

pytestmark = pytest.mark.compat


def test_watch_live_puts_and_deletes(ctl: Etcdctl) -> None:
    ctl.ok("put", "start", "x")  # 2
    # start at the next revision, so writes made before the watch is in place count
    with ctl.background("watch", "w1", "--rev=3") as watcher:
        ctl.ok("put", "w1", "a")
        lines = watcher.wait_for_line_count(3)
        assert lines[:3] == ["PUT", "w1", "a"]
        ctl.ok("put", "w2", "ignored")
        ctl.ok("del", "w1")
        watcher.wait_for_lines(["PUT", "w1", "a", "DELETE", "w1", ""])


def test_watch_history_prefix_prev_kv(ctl: Etcdctl) -> None:
    ctl.ok("put", "w1", "a")  # 2
    ctl.ok("put", "w2", "b")  # 3
    ctl.ok("put", "x", "c")  # 4
    ctl.ok("del", "w1")  # 5
    with ctl.background("watch", "w", "--prefix", "--prev-kv", "--rev=1") as watcher:
        history = ["PUT", "w1", "a", "PUT", "w2", "b", "DELETE", "w1", "a", "w1", ""]
        watcher.wait_for_lines(history)
        ctl.ok("put", "w3", "c")
        ctl.ok("put", "w3", "d")
        # with --prev-kv a PUT over an existing key prints the previous pair first
        watcher.wait_for_lines([*history, "PUT", "w3", "c", "PUT", "w3", "c", "w3", "d"])


def test_watch_json(ctl: Etcdctl) -> None:
    ctl.ok("put", "j", "1")  # 2
    with ctl.background("watch", "j", "--rev=2", "-w", "json") as watcher:
        line = watcher.wait_for_line_count(1)[0]
    doc = json.loads(line)
    assert doc["Header"]["revision"] == 2
    assert doc["Events"] == [
        {
            "kv": {
                "key": "ag==",
                "create_revision": 2,
                "mod_revision": 2,
                "version": 1,
                "value": "MQ==",
            }
        }
    ]
    assert (doc["CompactRevision"], doc["Canceled"], doc["Created"]) == (0, False, False)


def test_watch_compacted_revision(ctl: Etcdctl) -> None:
    for i in range(4):
        ctl.ok("put", "c", str(i))  # 2..5
    ctl.ok("compaction", "4")
    result = ctl.run("watch", "c", "--rev=2")
    assert result.returncode == 5
    assert result.stdout == ""
    assert "watch was canceled (etcdserver: mvcc: required revision has been compacted)" in (
        result.stderr.splitlines()
    )
    assert result.errors == ["Error: watch is canceled by the server"]


def test_lock_excludes_a_second_locker(ctl: Etcdctl) -> None:
    with ctl.background("lock", "mylock") as first:
        held = first.wait_for_line_count(1)[0]
        assert re.fullmatch(r"mylock/[0-9a-f]+", held), held
        with ctl.background("lock", "mylock") as second:
            # the second locker has queued its key behind the first one
            def queued() -> bool:
                return len(ctl.ok("get", "mylock", "--prefix", "--keys-only").split()) == 2

            wait_until(queued)
            assert second.lines == []
            first.stop(signal.SIGTERM)  # releases the lock (revokes its session lease)
            got = second.wait_for_line_count(1)[0]
            assert re.fullmatch(r"mylock/[0-9a-f]+", got)
            assert got != held
            keys = ctl.ok("get", "mylock", "--prefix", "--keys-only").split()
            assert keys == [got]


def test_elect_and_observe(ctl: Etcdctl) -> None:
    with ctl.background("elect", "myelection", "p1") as leader:
        lines = leader.wait_for_line_count(2)
        assert re.fullmatch(r"myelection/[0-9a-f]+", lines[0])
        assert lines[1] == "p1"
        with ctl.background("elect", "-l", "myelection") as observer:
            assert observer.wait_for_line_count(2) == lines[:2]
            with ctl.background("elect", "myelection", "p2") as follower:
                wait_until(
                    lambda: len(ctl.ok("get", "myelection", "--prefix", "--keys-only").split()) == 2
                )
                assert follower.lines == []
                leader.stop(signal.SIGTERM)
                new = follower.wait_for_line_count(2)
                assert new[1] == "p2"
                assert observer.wait_for_line_count(4)[2:4] == new[:2]
