"""history, diff, tree and top against a real server."""

from __future__ import annotations

import json

from tests.cli.conftest import Kvctl, invoke, ok
from tests.support.procs import ServerProcess


def rev_of(out: str) -> int:
    return int(json.loads(out)["header"]["revision"])


def test_history_of_a_key(kvctl: Kvctl, ns: str) -> None:
    key = ns + "h"
    r1 = rev_of(ok(kvctl("-w", "json", "put", key, "one")))
    r2 = rev_of(ok(kvctl("-w", "json", "put", key, "two")))
    ok(kvctl("put", ns + "other", "x"))
    r3 = rev_of(ok(kvctl("-w", "json", "del", key)))
    r4 = rev_of(ok(kvctl("-w", "json", "put", key, "three!")))
    assert ok(kvctl("history", key)) == (
        f"{r1}, PUT, 1, one\n{r2}, PUT, 2, two\n{r3}, DELETE, , \n{r4}, PUT, 1, three!\n"
    )
    doc = json.loads(ok(kvctl("-w", "json", "history", key, "--sizes")))
    assert [h.get("size") for h in doc["history"]] == [3, 3, None, 6]
    assert [h["type"] for h in doc["history"]] == ["PUT", "PUT", "DELETE", "PUT"]
    table = ok(kvctl("-w", "table", "history", key))
    assert "REVISION" in table and "three!" in table
    assert '"Type" : "DELETE"' in ok(kvctl("-w", "fields", "history", key))
    assert ok(kvctl("history", ns + "never")) == ""


def test_history_after_compaction(fresh_server: ServerProcess) -> None:
    ep = fresh_server.endpoint
    revs = [rev_of(ok(invoke(ep, "-w", "json", "put", "k", v))) for v in ("a", "b")]
    filler = rev_of(ok(invoke(ep, "-w", "json", "put", "other", "x")))
    last = rev_of(ok(invoke(ep, "-w", "json", "put", "k", "c")))
    ok(invoke(ep, "compaction", str(filler)))
    assert ok(invoke(ep, "history", "k")) == (
        f"(history before revision {filler} was compacted)\n"
        f"{revs[1]}, PUT, 2, b\n{last}, PUT, 3, c\n"
    )


def test_diff_between_revisions(kvctl: Kvctl, ns: str) -> None:
    ok(kvctl("put", ns + "keep", "same"))
    ok(kvctl("put", ns + "mod", "old"))
    base = rev_of(ok(kvctl("-w", "json", "put", ns + "gone", "bye")))
    ok(kvctl("put", ns + "mod", "new"))
    ok(kvctl("del", ns + "gone"))
    end = rev_of(ok(kvctl("-w", "json", "put", ns + "added", "hi")))
    ok(kvctl("put", ns + "later", "ignored"))
    args = ("diff", "--from-rev", str(base), "--to-rev", str(end), "--prefix", ns)
    assert ok(kvctl(*args)) == (f"+ {ns}added = hi\n- {ns}gone (was bye)\n~ {ns}mod: old -> new\n")
    doc = json.loads(ok(kvctl("-w", "json", *args)))
    assert [len(doc[k]) for k in ("added", "modified", "deleted")] == [1, 1, 1]
    assert doc["to_revision"] == end
    table = ok(kvctl("-w", "table", *args))
    assert "CHANGE" in table and "modified" in table
    assert '"Change" : "deleted"' in ok(kvctl("-w", "fields", *args))


def test_tree_of_a_prefix(kvctl: Kvctl, ns: str) -> None:
    reg = ns + "registry/"
    for key, value in [("pods/default/a", "12345"), ("pods/default/b", "1"), ("svc/k/s", "xy")]:
        ok(kvctl("put", reg + key, value))
    assert ok(kvctl("tree", reg)) == (
        f"{reg}  [3 keys, 8 B]\n"
        "├── pods/  [2 keys, 6 B]\n"
        "│   └── default/  [2 keys, 6 B]\n"
        "│       ├── a  [1 key, 5 B]\n"
        "│       └── b  [1 key, 1 B]\n"
        "└── svc/  [1 key, 2 B]\n"
        "    └── k/  [1 key, 2 B]\n"
        "        └── s  [1 key, 2 B]\n"
    )
    doc = json.loads(ok(kvctl("-w", "json", "tree", reg)))
    assert doc["keys"] == 3 and [c["name"] for c in doc["children"]] == ["pods", "svc"]
    table = ok(kvctl("-w", "table", "tree", reg, "--depth", "1"))
    assert "PATH" in table and f"{reg.rstrip('/')}/pods" in table and "default" not in table


def test_top_once(kvctl: Kvctl, server: ServerProcess) -> None:
    line = ok(kvctl("top", "--once", "--interval", "0.1"))
    fields = line.strip().split(", ")
    assert fields[0] == server.endpoint and fields[2] == "*"  # a single member leads
    doc = json.loads(ok(kvctl("-w", "json", "top", "--once", "--interval", "0.1")))
    assert doc[0]["revision"] > 0 and "rev/s" in doc[0] and "db size" in doc[0]
    assert "REV/S" in ok(kvctl("-w", "table", "top", "--once", "--interval", "0.1"))
