"""etcd flags that mean nothing in kvstore (logging plumbing, file retention,
v2, pprof, bbolt tuning...) are accepted, so an etcd command line starts a
kvstore member, and each one given is logged with why it has no effect. The
same command line starts Debian's etcd. Flags whose loss would change what
the member promises (--wal-dir: where the log is made durable) stay refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.etcdctl import Etcdctl
from tests.support.procs import etcd_process, kvstore_process, member_argv, run_to_end, running

ETCD_LINE = [
    "--logger=zap",
    "--log-outputs=stderr",
    "--max-wals=5",
    "--max-snapshots",
    "5",
    "--enable-v2=false",
    "--pre-vote",
    "--enable-pprof=false",
    "--backend-batch-limit=1000",
    "--debug",
]


@pytest.mark.parametrize("system", ["etcd", "kvstore"])
def test_an_etcd_command_line_starts_a_member(system: str, tmp_path: Path) -> None:
    make = etcd_process if system == "etcd" else kvstore_process
    extra = ETCD_LINE if system == "etcd" else [*ETCD_LINE, "--log-format", "text"]
    server = make(tmp_path, "flags", extra=extra)
    with running(server):
        Etcdctl(server.url).ok("put", "k", "v")
        assert Etcdctl(server.url).ok("get", "k", "--print-value-only").strip() == "v"
        log = server.log()
    if system == "kvstore":
        assert "flag --max-wals=5 has no effect: kvstore's Raft journal is compacted" in log
        assert "flag --max-snapshots=5 has no effect" in log
        assert "flag --pre-vote=true has no effect: kvstore's Raft always runs a pre-vote" in log
        assert "flag --logger=zap has no effect" in log
        assert " DEBUG " in log  # --debug: debug-level logging


def test_a_flag_that_changes_durability_is_still_refused(tmp_path: Path) -> None:
    proc = run_to_end(
        [*member_argv("kvstore"), "--data-dir", str(tmp_path / "d"), "--wal-dir", "/x"]
    )
    assert proc.returncode == 2
    assert "unrecognized arguments: --wal-dir" in proc.stderr
    assert not (tmp_path / "d").exists()
