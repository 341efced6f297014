"""watch (a real kvctl process, stopped with Ctrl-C) and the lease commands."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from tests.cli.conftest import Kvctl, invoke, ok
from tests.client.helpers import reap
from tests.support.procs import REPO_ROOT, ServerProcess

#: Runs kvctl with SIGINT at its default action, as in a terminal. A test run
#: started in the background by a non-interactive shell (``cmd &``) inherits
#: SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the
#: Ctrl-C these tests send would do nothing. (``preexec_fn`` could reset it, but
#: is unsafe in a parent with threads, as this one has.)
_WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'kvstore.cli', *sys.argv[1:]])"
)


def kvctl_process(endpoint: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WITH_DEFAULT_SIGINT, "--endpoints", endpoint, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )


def test_watch_prints_events_and_exits_cleanly_on_ctrl_c(
    server: ServerProcess, kvctl: Kvctl, ns: str
) -> None:
    key = ns + "w"
    start = json.loads(ok(kvctl("-w", "json", "put", key, "v1")))["header"]["revision"]
    ok(kvctl("put", key, "v2"))
    ok(kvctl("del", key))
    proc = kvctl_process(server.endpoint, "watch", key, "--rev", str(start), "--prev-kv")
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(13)]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        reap(proc)
    assert "".join(lines) == (
        f"PUT\n{key}\nv1\nPUT\n{key}\nv1\n{key}\nv2\nDELETE\n{key}\nv2\n{key}\n\n"
    )
    assert proc.returncode == 0 and "Traceback" not in err and err == ""


def test_watch_json_and_compacted_start(fresh_server: ServerProcess) -> None:
    ep = fresh_server.endpoint
    first = json.loads(ok(invoke(ep, "-w", "json", "put", "k", "a")))["header"]["revision"]
    ok(invoke(ep, "put", "k", "b"))
    proc = kvctl_process(ep, "-w", "json", "watch", "k", "--rev", str(first))
    try:
        assert proc.stdout is not None
        docs = [json.loads(proc.stdout.readline())]
        while sum(len(d["Events"]) for d in docs) < 2:
            docs.append(json.loads(proc.stdout.readline()))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    finally:
        reap(proc)
    events = [e for d in docs for e in d["Events"]]
    assert [e["kv"]["mod_revision"] for e in events] == [first, first + 1]
    assert set(docs[0]) == {"Header", "Events", "CompactRevision", "Canceled", "Created"}

    ok(invoke(ep, "compaction", str(first + 1)))
    result = invoke(ep, "watch", "k", "--rev", str(first))
    assert result.exit_code == 5
    assert result.stderr.startswith("Error: watch was canceled (etcdserver: mvcc: required")
    assert len(result.stderr.splitlines()) == 1


def test_lease_commands(kvctl: Kvctl, ns: str) -> None:
    granted = ok(kvctl("lease", "grant", "100"))
    assert granted.startswith("lease ") and granted.endswith(" granted with TTL(100s)\n")
    lease = granted.split()[1]
    ok(kvctl("put", ns + "l", "v", "--lease", lease))
    ttl = ok(kvctl("lease", "timetolive", lease, "--keys"))
    assert ttl.startswith(f"lease {lease} granted with TTL(100s), remaining(")
    assert ttl.endswith(f"attached keys([{ns}l])\n")
    doc = json.loads(ok(kvctl("-w", "json", "lease", "timetolive", lease, "--keys")))
    assert doc["granted-ttl"] == 100 and doc["id"] == int(lease, 16)
    assert lease in ok(kvctl("lease", "list"))
    assert {"id": int(lease, 16)} in json.loads(ok(kvctl("-w", "json", "lease", "list")))["leases"]
    assert ok(kvctl("lease", "keep-alive", "--once", lease)) == (
        f"lease {lease} keepalived with TTL(100)\n"
    )
    assert '"TTL" : 100' in ok(kvctl("-w", "fields", "lease", "keep-alive", "--once", lease))
    assert "GRANTED TTL" in ok(kvctl("-w", "table", "lease", "timetolive", lease))
    assert json.loads(ok(kvctl("-w", "json", "lease", "grant", "50")))["TTL"] == 50
    assert ok(kvctl("lease", "revoke", lease)) == f"lease {lease} revoked\n"
    assert ok(kvctl("get", ns + "l")) == ""
    assert ok(kvctl("lease", "timetolive", lease)) == f"lease {lease} already expired\n"
    gone = kvctl("lease", "keep-alive", "--once", lease)
    assert gone.exit_code == 1 and gone.stderr == f"Error: lease {lease} expired or revoked.\n"
    unknown = kvctl("lease", "revoke", "1234")
    assert unknown.stderr == "Error: etcdserver: requested lease not found\n"


def test_lease_keep_alive_renews_until_ctrl_c(server: ServerProcess, kvctl: Kvctl) -> None:
    lease = ok(kvctl("lease", "grant", "3")).split()[1]
    proc = kvctl_process(server.endpoint, "lease", "keep-alive", lease)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]  # renewed every TTL/3 s
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        reap(proc)
    assert lines == [f"lease {lease} keepalived with TTL(3)\n"] * 3
    assert proc.returncode == 0 and err == ""
    assert "remaining(" in ok(kvctl("lease", "timetolive", lease))  # outlived 3 s
