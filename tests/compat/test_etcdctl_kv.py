"""etcdctl put/get/del/txn/compaction against a server process."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support.etcdctl import Etcdctl

pytestmark = pytest.mark.compat


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def header_ok(header: dict[str, int], revision: int) -> None:
    assert header["revision"] == revision
    assert {"cluster_id", "member_id", "revision", "raft_term"} <= set(header)


@pytest.fixture
def foo_keys(ctl: Etcdctl) -> None:
    for key, value in [("foo", "bar"), ("foo2", "baz"), ("fop", "x")]:
        assert ctl.ok("put", key, value) == "OK\n"  # revisions 2, 3, 4


@pytest.mark.usefixtures("foo_keys")
def test_get_forms(ctl: Etcdctl) -> None:
    assert ctl.ok("get", "foo") == "foo\nbar\n"
    assert ctl.ok("get", "foo", "--prefix") == "foo\nbar\nfoo2\nbaz\n"
    assert ctl.ok("get", "foo", "--prefix", "--keys-only") == "foo\n\nfoo2\n\n"
    assert ctl.ok("get", "foo", "--prefix", "--print-value-only") == "bar\nbaz\n"
    assert ctl.ok("get", "foo", "--prefix", "--limit=1") == "foo\nbar\n"
    assert ctl.ok("get", "--from-key", "foo2") == "foo2\nbaz\nfop\nx\n"
    assert ctl.ok("get", "foo", "fop") == "foo\nbar\nfoo2\nbaz\n"
    assert ctl.ok("get", "missing") == ""


@pytest.mark.usefixtures("foo_keys")
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--sort-by=MODIFY", "--order=DESCEND"], ["fop", "foo2", "foo"]),
        (["--sort-by=VALUE", "--order=ASCEND"], ["foo", "foo2", "fop"]),
        (["--sort-by=KEY", "--order=DESCEND"], ["fop", "foo2", "foo"]),
        (["--sort-by=CREATE", "--order=DESCEND"], ["fop", "foo2", "foo"]),
        (["--sort-by=VERSION"], ["foo", "foo2", "fop"]),
        (["--order=DESCEND"], ["fop", "foo2", "foo"]),
    ],
)
def test_get_sorted(ctl: Etcdctl, args: list[str], expected: list[str]) -> None:
    out = ctl.ok("get", "f", "--prefix", "--keys-only", *args)
    assert out.split() == expected


@pytest.mark.usefixtures("foo_keys")
def test_get_json(ctl: Etcdctl) -> None:
    doc = json.loads(ctl.ok("get", "foo", "--prefix", "--limit=1", "-w", "json"))
    header_ok(doc["header"], 4)
    assert doc["kvs"] == [
        {
            "key": b64("foo"),
            "create_revision": 2,
            "mod_revision": 2,
            "version": 1,
            "value": b64("bar"),
        }
    ]
    assert doc["more"] is True
    assert doc["count"] == 2
    missing = json.loads(ctl.ok("get", "missing", "-w", "json"))
    assert set(missing) == {"header"}


@pytest.mark.usefixtures("foo_keys")
def test_get_rev(ctl: Etcdctl) -> None:
    ctl.ok("put", "foo", "new")  # 5
    assert ctl.ok("get", "foo", "--rev=2") == "foo\nbar\n"
    assert ctl.ok("get", "foo", "--rev=5") == "foo\nnew\n"
    doc = json.loads(ctl.ok("get", "foo", "-w", "json"))
    assert doc["kvs"][0]["version"] == 2
    assert doc["kvs"][0]["mod_revision"] == 5


@pytest.mark.usefixtures("foo_keys")
def test_put_prev_kv(ctl: Etcdctl) -> None:
    assert ctl.ok("put", "foo", "bar2", "--prev-kv") == "OK\nfoo\nbar\n"
    doc = json.loads(ctl.ok("put", "foo", "bar3", "--prev-kv", "-w", "json"))
    header_ok(doc["header"], 6)
    assert doc["prev_kv"] == {
        "key": b64("foo"),
        "create_revision": 2,
        "mod_revision": 5,
        "version": 2,
        "value": b64("bar2"),
    }


@pytest.mark.usefixtures("foo_keys")
def test_del(ctl: Etcdctl) -> None:
    assert ctl.ok("del", "foo") == "1\n"
    assert ctl.ok("del", "foo") == "0\n"
    assert ctl.ok("del", "fo", "--prefix", "--prev-kv") == "2\nfoo2\nbaz\nfop\nx\n"
    doc = json.loads(ctl.ok("get", "", "--prefix", "-w", "json"))
    assert set(doc) == {"header"}
    header_ok(doc["header"], 6)
    nothing = json.loads(ctl.ok("del", "nope", "-w", "json"))
    assert set(nothing) == {"header"}


def test_txn_interactive_success(ctl: Etcdctl) -> None:
    ctl.ok("put", "k1", "v1")
    ctl.ok("put", "k2", "v2")
    stdin = 'value("k1") = "v1"\nmod("k2") > "0"\n\nput k3 v3\nget k1\n\nput k4 v4\n\n'
    out = ctl.ok("txn", "-i", stdin=stdin)
    assert out == (
        "compares:\n"
        "success requests (get, put, del):\n"
        "failure requests (get, put, del):\n"
        "SUCCESS\n\nOK\n\nk1\nv1\n"
    )
    assert ctl.ok("get", "k4") == ""
    assert ctl.ok("get", "k3") == "k3\nv3\n"


def test_txn_interactive_failure(ctl: Etcdctl) -> None:
    ctl.ok("put", "k1", "v1")
    ctl.ok("put", "k2", "v2")
    stdin = 'value("k1") = "nope"\n\nput k5 v5\n\nget k2\ndel k1\n\n'
    out = ctl.ok("txn", "-i", stdin=stdin)
    assert out.endswith("FAILURE\n\nk2\nv2\n\n1\n")
    assert ctl.ok("get", "k5") == ""
    assert ctl.ok("get", "k1") == ""


def test_txn_json(ctl: Etcdctl) -> None:
    ctl.ok("put", "k1", "v1")
    ctl.ok("put", "k2", "v2")
    stdin = 'version("k1") = "1"\ncreate("k2") < "10"\n\nput k6 v6\nget k1\n\n\n'
    doc = json.loads(ctl.ok("txn", "-w", "json", stdin=stdin))
    header_ok(doc["header"], 4)
    assert doc["succeeded"] is True
    assert doc["responses"] == [
        {"Response": {"ResponsePut": {"header": {"revision": 4}}}},
        {
            "Response": {
                "ResponseRange": {
                    "header": {"revision": 4},
                    "kvs": [
                        {
                            "key": b64("k1"),
                            "create_revision": 2,
                            "mod_revision": 2,
                            "version": 1,
                            "value": b64("v1"),
                        }
                    ],
                    "count": 1,
                }
            }
        },
    ]


def test_compaction_and_errors(ctl: Etcdctl) -> None:
    for i in range(4):
        ctl.ok("put", "k", f"v{i}")  # 2..5
    assert ctl.ok("compaction", "3") == "compacted revision 3\n"
    below = ctl.run("get", "k", "--rev=2")
    assert below.returncode == 1
    assert below.stdout == ""
    assert below.errors == ["Error: etcdserver: mvcc: required revision has been compacted"]
    assert ctl.ok("get", "k", "--rev=3") == "k\nv1\n"
    again = ctl.run("compaction", "3")
    assert again.returncode == 1
    assert again.errors == ["Error: etcdserver: mvcc: required revision has been compacted"]
    future = ctl.run("get", "k", "--rev=100")
    assert future.returncode == 1
    assert future.errors == ["Error: etcdserver: mvcc: required revision is a future revision"]
    assert ctl.ok("compaction", "--physical", "4") == "compacted revision 4\n"
