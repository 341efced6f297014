"""--auto-compaction-retention / --auto-compaction-mode: the same flags on etcd
and kvstore (real processes), history older than the retention goes; and
the flag errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import process_for
from tests.support.etcdctl import Etcdctl
from tests.support.kvcluster import etcdctl, kv_cluster
from tests.support.procs import member_argv, run_to_end, running, wait_until

COMPACTED = "required revision has been compacted"


def _put(ctl: Etcdctl, key: str, value: str) -> int:
    out = ctl.ok("put", key, value, "-w", "json")
    return int(json.loads(out)["header"]["revision"])


def test_periodic_retention_drops_older_history(backend: str, tmp_path: Path) -> None:
    proc = process_for(backend, tmp_path)
    proc.argv.append("--auto-compaction-retention=2s")
    with running(proc) as server:
        ctl = Etcdctl(server.url)
        first = _put(ctl, "k", "v1")
        _put(ctl, "k", "v2")
        # still there within the retention
        assert ctl.ok("get", "k", f"--rev={first}", "--print-value-only") == "v1\n"
        wait_until(lambda: COMPACTED in ctl.run("get", "k", f"--rev={first}").stderr, timeout=30)
        latest = _put(ctl, "k", "v3")
        assert ctl.ok("get", "k", f"--rev={latest}", "--print-value-only") == "v3\n"


def test_the_leaders_compaction_reaches_every_member(tmp_path: Path) -> None:
    with kv_cluster(tmp_path, extra=["--auto-compaction-retention=2s"]) as cluster:
        urls = [m.server.url for m in cluster.members]
        out = etcdctl(cluster, "put", "k", "v1", "-w", "json", endpoints=urls[:1])
        first = int(json.loads(out.stdout)["header"]["revision"])
        etcdctl(cluster, "put", "k", "v2", endpoints=urls[1:2])  # (a compaction keeps its own)
        for url in urls:
            ctl = Etcdctl(url)
            wait_until(
                lambda c=ctl: (  # type: ignore[misc]
                    COMPACTED in c.run("get", "k", f"--rev={first}", "--consistency=s").stderr
                ),
                timeout=30,
            )
        leader = cluster.leader()
        assert "finished auto-compaction" in leader.server.log()
        for member in cluster.members:
            if member is not leader:
                assert "finished auto-compaction" not in member.server.log()


def _flag_error(*flags: str) -> subprocess.CompletedProcess[str]:
    return run_to_end([*member_argv("kvstore"), *flags])


def test_bad_auto_compaction_flags_are_usage_errors_as_in_etcd(tmp_path: Path) -> None:
    data = f"--data-dir={tmp_path / 'd'}"
    bad_mode = _flag_error(data, "--auto-compaction-mode=bogus", "--auto-compaction-retention=1")
    assert bad_mode.returncode == 2
    assert 'unknown auto-compaction-mode "bogus"' in bad_mode.stderr
    bad = _flag_error(data, "--auto-compaction-retention=xyz")
    assert bad.returncode == 2
    assert 'error parsing CompactionRetention: time: invalid duration "xyz"' in bad.stderr
    negative = _flag_error(data, "--auto-compaction-retention=-1")
    assert 'time: missing unit in duration "-1"' in negative.stderr
    assert not (tmp_path / "d").exists()
