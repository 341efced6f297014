"""get / put / del / txn / compaction in every output format, against a real server."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import Kvctl, invoke, ok
from tests.support.etcdctl import Etcdctl
from tests.support.procs import ServerProcess


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_put_and_get_in_every_format(kvctl: Kvctl, ns: str) -> None:
    key = ns + "k"
    assert ok(kvctl("put", key, "v1")) == "OK\n"
    assert ok(kvctl("get", key)) == f"{key}\nv1\n"

    put = json.loads(ok(kvctl("-w", "json", "put", key, "v2")))
    assert set(put) == {"header"} and put["header"]["revision"] > 1

    doc = json.loads(ok(kvctl("-w", "json", "get", key)))
    assert set(doc) == {"header", "kvs", "count"} and doc["count"] == 1
    (kv,) = doc["kvs"]
    assert kv["key"] == b64(key) and kv["value"] == b64("v2")
    assert kv["version"] == 2 and kv["mod_revision"] == put["header"]["revision"]
    assert "lease" not in kv  # zero fields omitted, as etcd does
    assert set(doc["header"]) == {"cluster_id", "member_id", "revision", "raft_term"}

    table = ok(kvctl("-w", "table", "get", key)).splitlines()
    assert table[0].startswith("+-") and "KEY" in table[1] and "VALUE" in table[1]
    assert key in table[3] and "v2" in table[3] and len(table) == 5

    fields = ok(kvctl("-w", "fields", "get", key)).splitlines()
    assert f'"Key" : "{key}"' in fields and '"Value" : "v2"' in fields
    assert '"Count" : 1' in fields and '"More" : false' in fields

    assert ok(kvctl("-w", "table", "put", key, "v3")).startswith("+-")
    assert '"Revision" : ' in ok(kvctl("-w", "fields", "put", key, "v4"))


def test_missing_key_gives_header_only(kvctl: Kvctl, ns: str) -> None:
    assert ok(kvctl("get", ns + "missing")) == ""
    assert set(json.loads(ok(kvctl("get", ns + "missing", "-w", "json")))) == {"header"}


def test_put_reads_value_from_stdin_and_prev_kv(kvctl: Kvctl, ns: str) -> None:
    ok(kvctl("put", ns + "s", input=b"line1\nline2\n"))
    assert ok(kvctl("get", ns + "s", "--print-value-only")) == "line1\nline2\n\n"
    assert ok(kvctl("put", ns + "s", "new", "--prev-kv")) == f"OK\n{ns}s\nline1\nline2\n\n"
    doc = json.loads(ok(kvctl("put", ns + "s", "newer", "--prev-kv", "-w", "json")))
    assert doc["prev_kv"]["value"] == b64("new")


def test_range_flags(kvctl: Kvctl, ns: str) -> None:
    for name, value in [("a", "3"), ("b", "1"), ("c", "2")]:
        ok(kvctl("put", ns + name, value))
    assert ok(kvctl("get", "--prefix", ns, "--keys-only")) == f"{ns}a\n\n{ns}b\n\n{ns}c\n\n"
    assert ok(kvctl("get", "--prefix", ns, "--print-value-only")) == "3\n1\n2\n"
    assert ok(kvctl("get", "--prefix", ns, "--count-only")) == "3\n"
    sorted_desc = kvctl("get", "--prefix", ns, "--sort-by", "VALUE", "--order", "DESCEND")
    assert ok(sorted_desc).split("\n")[1::2][:3] == ["3", "2", "1"]
    limited = json.loads(ok(kvctl("get", "--prefix", ns, "--limit", "1", "-w", "json")))
    assert limited["more"] is True and limited["count"] == 3 and len(limited["kvs"]) == 1
    assert ok(kvctl("get", ns + "b", ns + "c")) == f"{ns}b\n1\n"  # [key, range_end)
    from_key = ok(kvctl("get", "--from-key", ns + "b", "--keys-only", "--limit", "2"))
    assert from_key == f"{ns}b\n\n{ns}c\n\n"
    rev = json.loads(ok(kvctl("put", ns + "a", "changed", "-w", "json")))["header"]["revision"]
    assert ok(kvctl("get", ns + "a", "--rev", str(rev - 1), "--print-value-only")) == "3\n"


def test_global_flags_after_the_command_and_env(server: ServerProcess, ns: str) -> None:
    from click.testing import CliRunner

    from kvstore.cli.main import cli

    invoke(server.endpoint, "put", ns + "e", "v")
    runner = CliRunner(env={"KVCTL_ENDPOINTS": server.endpoint})
    result = runner.invoke(cli, ["get", ns + "e", "-w", "json"], catch_exceptions=False)
    assert json.loads(ok(result))["kvs"][0]["value"] == b64("v")


def test_json_values_pretty_and_coloured_only_when_asked(kvctl: Kvctl, ns: str) -> None:
    ok(kvctl("put", ns + "j", '{"a": [1, 2]}'))
    assert ok(kvctl("get", ns + "j", "--print-value-only")) == '{"a": [1, 2]}\n'
    coloured = ok(kvctl("--color", "always", "get", ns + "j", "--print-value-only"))
    assert "\x1b[" in coloured and '\n  "a"' in coloured.replace("\x1b[1;34m", "")


def test_del_in_every_format(kvctl: Kvctl, ns: str) -> None:
    for fmt in ("simple", "json", "table", "fields"):
        ok(kvctl("put", ns + "d", "x"))
        out = ok(kvctl("-w", fmt, "del", ns + "d", "--prev-kv"))
        if fmt == "simple":
            assert out == f"1\n{ns}d\nx\n"
        elif fmt == "json":
            doc = json.loads(out)
            assert doc["deleted"] == 1 and doc["prev_kvs"][0]["key"] == b64(ns + "d")
        elif fmt == "table":
            assert "DELETED" in out and f"{ns}d" in out
        else:
            assert '"Deleted" : 1' in out and f'"PrevKey" : "{ns}d"' in out
    assert ok(kvctl("del", ns + "nothing")) == "0\n"
    for name in "xyz":
        ok(kvctl("put", ns + "p/" + name, "v"))
    assert ok(kvctl("del", "--prefix", ns + "p/")) == "3\n"


@pytest.mark.compat
def test_json_matches_etcdctl(server: ServerProcess, kvctl: Kvctl, ns: str) -> None:
    etcdctl = shutil.which("etcdctl")
    if etcdctl is None:
        pytest.skip("Debian's etcdctl is not installed (tests/run.sh installs it)")

    def theirs(*args: str) -> dict[str, object]:
        out = subprocess.run(
            [etcdctl, "--endpoints", server.endpoint, "-w", "json", *args],
            capture_output=True,
            check=True,
            env={"ETCDCTL_API": "3"},
            timeout=30,
        ).stdout
        return dict(json.loads(out))

    def shape(doc: object) -> object:
        if isinstance(doc, dict):
            return {k: shape(v) for k, v in doc.items() if k != "header"}
        if isinstance(doc, list):
            return [shape(v) for v in doc]
        return type(doc).__name__

    ok(kvctl("put", ns + "a", "1"))
    ok(kvctl("put", ns + "b", "2"))
    for args in (("get", ns + "a"), ("get", "--prefix", ns), ("get", ns + "none")):
        assert json.loads(ok(kvctl("-w", "json", *args))) == theirs(*args)
    mine = json.loads(ok(kvctl("-w", "json", "put", ns + "a", "3", "--prev-kv")))
    assert shape(mine) == shape(theirs("put", ns + "a", "4", "--prev-kv"))
    assert set(mine["header"]) == set(theirs("put", ns + "c", "1")["header"])
    mine = json.loads(ok(kvctl("-w", "json", "del", ns + "a", "--prev-kv")))
    assert shape(mine) == shape(theirs("del", ns + "b", "--prev-kv"))


TXN = """mod("{k}") > "0"
value("{k}") = "old"

put {k} "new value"
get {k}
del {ns}nothing

put {k} created

"""


def test_txn_from_stdin_and_file(kvctl: Kvctl, ns: str, tmp_path: Path) -> None:
    key = ns + "t"
    text = TXN.format(k=key, ns=ns)
    assert ok(kvctl("txn", input=text)) == "FAILURE\n\nOK\n"
    assert ok(kvctl("get", key, "--print-value-only")) == "created\n"
    ok(kvctl("put", key, "old"))
    assert ok(kvctl("txn", input=text)) == f"SUCCESS\n\nOK\n\n{key}\nnew value\n\n0\n"

    ok(kvctl("put", key, "old"))
    doc = json.loads(ok(kvctl("-w", "json", "txn", input=text)))
    assert doc["succeeded"] is True
    assert [list(r["Response"]) for r in doc["responses"]] == [
        ["ResponsePut"],
        ["ResponseRange"],
        ["ResponseDeleteRange"],
    ]
    path = tmp_path / "txn.txt"
    path.write_text(text)
    assert "FAILURE" in ok(kvctl("-w", "table", "txn", "--file", str(path)))
    assert '"Succeeded" : false' in ok(kvctl("-w", "fields", "txn", "--file", str(path)))

    interactive = ok(kvctl("txn", "-i", input=f'version("{key}") > "0"\n\nget {key}\n\n\n'))
    assert interactive.startswith("compares:\nsuccess requests (get, put, del):\n")
    assert interactive.endswith(f"SUCCESS\n\n{key}\ncreated\n")


def test_txn_syntax_error_is_a_usage_error(kvctl: Kvctl) -> None:
    result = kvctl("txn", input="bogus\n\n\n\n")
    assert result.exit_code == 3 and "bad compare" in result.stderr  # etcdctl's ExitInvalidInput


def test_compaction_and_compacted_reads(fresh_server: ServerProcess) -> None:
    ep = fresh_server.endpoint
    revs = [
        json.loads(ok(invoke(ep, "-w", "json", "put", "c", str(i))))["header"]["revision"]
        for i in range(4)
    ]
    assert ok(invoke(ep, "compaction", str(revs[1]))) == f"compacted revision {revs[1]}\n"
    result = invoke(ep, "get", "c", "--rev", str(revs[0]))
    assert result.exit_code == 1
    assert result.stderr == "Error: etcdserver: mvcc: required revision has been compacted\n"
    doc = json.loads(ok(invoke(ep, "-w", "json", "compaction", "--physical", str(revs[2]))))
    assert doc["compact_revision"] == revs[2]
    assert "CompactRevision" in ok(invoke(ep, "-w", "fields", "compaction", str(revs[3])))


def test_hex_prints_keys_and_values_as_etcdctl_does(
    server: ServerProcess, kvctl: Kvctl, ns: str
) -> None:
    ctl = Etcdctl(server.url)
    ok(kvctl("put", ns + "h1", "bär"))
    ok(kvctl("put", ns + "h2", "v2"))
    for args in (
        ("get", ns + "h", "--prefix", "--hex"),
        ("--hex", "get", ns + "h1", "--print-value-only"),
        ("get", ns + "h1", "--keys-only", "--hex"),
    ):
        assert ok(kvctl(*args)) == ctl.ok(*args), args
    assert ok(kvctl("get", ns + "h1", "--hex")).startswith("\\x2f\\x63\\x6c\\x69\\x2f")
    ours = ok(kvctl("del", ns + "h1", "--prev-kv", "--hex"))
    ok(kvctl("put", ns + "h1", "bär"))
    assert ours == ctl.ok("del", ns + "h1", "--prev-kv", "--hex")
    assert ours.endswith("\\x62\\xc3\\xa4\\x72\n")


def test_boolean_flags_take_etcdctls_true_and_false(
    server: ServerProcess, kvctl: Kvctl, ns: str
) -> None:
    """etcdctl takes ``--flag=true`` and ``--flag=false`` for every boolean flag."""
    ctl = Etcdctl(server.url)
    ok(kvctl("put", ns + "b1", "x"))
    ok(kvctl("put", ns + "b2", "y"))
    for args in (
        ("get", ns + "b", "--prefix=true", "--keys-only=true"),
        ("get", ns + "b", "--prefix=false"),  # the key itself: none
        ("get", ns + "b1", "--hex=true"),
        ("--hex=false", "get", ns + "b1", "--print-value-only=TRUE"),
        ("get", ns + "b", "--prefix=1", "--keys-only=t"),
    ):
        assert ok(kvctl(*args)) == ctl.ok(*args), args
    assert ok(kvctl("get", ns + "b", "--prefix=true", "--keys-only=true")) == (
        f"{ns}b1\n\n{ns}b2\n\n"
    )
    refused = kvctl("get", ns + "b", "--prefix=maybe")
    assert refused.exit_code != 0 and "Traceback" not in refused.stderr
    assert "--prefix" in refused.stderr
