"""make-mirror across two servers of a backend: etcdctl's against kvstore, and
kvctl's with etcd as the source, each checked the same way against etcd."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.cli.conftest import invoke, ok
from tests.cli.test_watch_lease import kvctl_process
from tests.client.helpers import reap
from tests.conftest import process_for
from tests.support.etcdctl import Etcdctl
from tests.support.procs import ServerProcess, running, wait_until

pytestmark = pytest.mark.compat


def _listing(ctl: Etcdctl, prefix: str) -> str:
    return ctl.ok("get", prefix, "--prefix")


def test_etcdctl_make_mirror_copies_then_follows(
    server: ServerProcess, backend: str, tmp_path: Path
) -> None:
    ctl = Etcdctl(server.url)
    ctl.ok("put", "/src/a", "1")
    ctl.ok("put", "/src/b", "2")
    (tmp_path / "dest").mkdir()
    with running(process_for(backend, tmp_path / "dest", "dest")) as dest:
        dctl = Etcdctl(dest.url)
        mirror = ("make-mirror", "--prefix", "/src/", "--dest-prefix", "/dst/", dest.url)
        with ctl.background(*mirror):
            wait_until(lambda: _listing(dctl, "/dst/") == "/dst/a\n1\n/dst/b\n2\n")
            ctl.ok("del", "/src/a")
            ctl.ok("put", "/src/c", "3")
            ctl.ok("txn", stdin="\nput /src/d 4\nput /src/e 5\n\n\n")
            expected = "/dst/b\n2\n/dst/c\n3\n/dst/d\n4\n/dst/e\n5\n"
            wait_until(lambda: _listing(dctl, "/dst/") == expected)
        assert _listing(dctl, "/src/") == ""


def test_kvctl_make_mirror_from_either_server(
    server: ServerProcess, backend: str, tmp_path: Path
) -> None:
    src = server.endpoint
    for i in range(3):
        ok(invoke(src, "put", f"/app/{i}", f"v{i}"))
    (tmp_path / "dest").mkdir()
    with running(process_for("kvstore", tmp_path / "dest", "dest")) as dest:
        dctl = Etcdctl(dest.url)
        proc = kvctl_process(src, "make-mirror", "--prefix", "/app/", dest.endpoint)
        try:
            wait_until(lambda: _listing(dctl, "/app/") == "/app/0\nv0\n/app/1\nv1\n/app/2\nv2\n")
            ok(invoke(src, "del", "/app/1"))
            ok(invoke(src, "put", "/app/3", "v3"))
            wait_until(lambda: _listing(dctl, "/app/") == "/app/0\nv0\n/app/2\nv2\n/app/3\nv3\n")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
        finally:
            reap(proc)
        assert proc.returncode == 0 and err == "" and out == "5\n", (backend, out, err)
