"""The committed kvstore/pb modules equal what protos/generate.py emits now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "protos" / "generate.py"), str(tmp_path)],
        check=True,
        cwd=REPO,
    )
    fresh = sorted(p.name for p in (tmp_path / "kvstore" / "pb").iterdir())
    committed = sorted(p.name for p in (REPO / "kvstore" / "pb").iterdir() if p.suffix != ".pyc")
    assert set(fresh) <= set(committed), f"missing generated files: {set(fresh) - set(committed)}"
    stale = [
        name
        for name in fresh
        if (tmp_path / "kvstore" / "pb" / name).read_bytes()
        != (REPO / "kvstore" / "pb" / name).read_bytes()
    ]
    assert not stale, f"regenerate with `python protos/generate.py`: stale {stale}"


def test_wire_names_match_etcd() -> None:
    from kvstore.pb import kv_pb2, rpc_pb2

    assert rpc_pb2.DESCRIPTOR.package == "etcdserverpb"
    assert kv_pb2.DESCRIPTOR.package == "mvccpb"
    services = set(rpc_pb2.DESCRIPTOR.services_by_name)
    assert {"KV", "Watch", "Lease", "Cluster", "Maintenance", "Auth"} <= services
    fields = rpc_pb2.RangeRequest.DESCRIPTOR.fields_by_name
    assert fields["max_create_revision"].number == 13
    assert rpc_pb2.WatchResponse.DESCRIPTOR.fields_by_name["events"].number == 11
    assert rpc_pb2.Compare.DESCRIPTOR.fields_by_name["range_end"].number == 64
