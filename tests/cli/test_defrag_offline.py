"""kvctl defrag --data-dir: a stopped member's store rewritten in place, the
same data after; refused while the member runs (real kvstore processes)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import invoke, ok
from tests.support.procs import kvstore_process, running


def _store(data_dir: Path) -> Path:
    return data_dir / "member" / "lmdb" / "data.mdb"


def test_defrag_of_a_stopped_members_data_dir(tmp_path: Path) -> None:
    server = kvstore_process(tmp_path)
    with running(server):
        ep = server.endpoint
        for i in range(200):
            ok(invoke(ep, "put", f"/big/{i:03d}", "v" * 4000))
        ok(invoke(ep, "put", "/kept", "here"))
        deleted = json.loads(ok(invoke(ep, "-w", "json", "del", "/big/", "--prefix")))
        ok(invoke(ep, "compaction", str(deleted["header"]["revision"]), "--physical"))
        before_get = json.loads(ok(invoke(ep, "-w", "json", "get", "/kept")))
        refused = invoke(ep, "defrag", "--data-dir", str(server.data_dir))
        assert refused.exit_code == 1
        assert "is in use by another process" in refused.stderr
        server.stop()
        size = _store(server.data_dir).stat().st_size
        out = ok(invoke(ep, "defrag", "--data-dir", str(server.data_dir)))
        assert out.startswith(f"Finished defragmenting etcd data[{server.data_dir}]")
        assert _store(server.data_dir).stat().st_size < size / 4
        server.start()
        after_get = json.loads(ok(invoke(ep, "-w", "json", "get", "/kept")))
    assert after_get["kvs"] == before_get["kvs"]
    assert after_get["header"]["revision"] == before_get["header"]["revision"]


def test_defrag_of_a_dir_without_a_store_is_an_error(tmp_path: Path) -> None:
    result = invoke("127.0.0.1:1", "defrag", "--data-dir", str(tmp_path / "none"))
    assert result.exit_code == 1 and "no kvstore data in" in result.stderr
    assert not (tmp_path / "none").exists()
