"""kvctl make-mirror: a real kvctl process copies a prefix to a second kvstore
process, follows later changes there (a source transaction stays one), and
prints its total when stopped with Ctrl-C."""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path

from tests.cli.conftest import Kvctl, invoke, ok
from tests.cli.test_watch_lease import kvctl_process
from tests.client.helpers import reap
from tests.support.procs import ServerProcess, kvstore_process, running, wait_until


def _dump(endpoint: str, prefix: str) -> dict[str, tuple[str, int]]:
    """key -> (value, mod revision) for every key under ``prefix``."""
    doc = json.loads(ok(invoke(endpoint, "-w", "json", "get", prefix, "--prefix")))
    return {
        _text(kv["key"]): (_text(kv.get("value", "")), int(kv["mod_revision"]))
        for kv in doc.get("kvs", [])
    }


def _text(encoded: str) -> str:
    return base64.b64decode(encoded).decode()


def _values(endpoint: str, prefix: str) -> dict[str, str]:
    return {key: value for key, (value, _) in _dump(endpoint, prefix).items()}


def test_make_mirror_copies_a_prefix_then_follows_it_until_ctrl_c(
    server: ServerProcess, fresh_server: ServerProcess, kvctl: Kvctl, ns: str
) -> None:
    dest = fresh_server.endpoint
    ok(kvctl("put", ns + "a", "1"))
    ok(kvctl("put", ns + "b", "2"))
    ok(kvctl("put", ns[:-1] + "-outside", "x"))  # shares the prefix's text, not the prefix
    proc = kvctl_process(
        server.endpoint, "make-mirror", "--prefix", ns, "--dest-prefix", "/copy/", dest
    )
    try:
        wait_until(lambda: _values(dest, "/copy/") == {"/copy/a": "1", "/copy/b": "2"})
        ok(kvctl("put", ns + "c", "3"))
        ok(kvctl("del", ns + "a"))
        ok(kvctl("txn", input=f"\nput {ns}d 4\nput {ns}e 5\n\n\n"))
        expected = {"/copy/b": "2", "/copy/c": "3", "/copy/d": "4", "/copy/e": "5"}
        wait_until(lambda: _values(dest, "/copy/") == expected)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        reap(proc)
    assert proc.returncode == 0 and err == ""
    assert out.splitlines()[-1] == "6"  # 2 copied, then c, the delete of a, d and e
    mirrored = _dump(dest, "/")
    assert set(mirrored) == set(expected)  # nothing from outside the prefix
    assert mirrored["/copy/d"][1] == mirrored["/copy/e"][1]  # one transaction, as at the source
    assert mirrored["/copy/c"][1] < mirrored["/copy/d"][1]


def test_make_mirror_of_every_key_and_to_the_destinations_root(tmp_path: Path) -> None:
    for name in ("source", "whole", "root"):
        (tmp_path / name).mkdir()
    with (
        running(kvstore_process(tmp_path / "source")) as source,
        running(kvstore_process(tmp_path / "whole")) as whole,
        running(kvstore_process(tmp_path / "root")) as root,
    ):
        src = source.endpoint
        for i in range(150):  # more than one destination transaction
            ok(invoke(src, "put", f"/app/k{i:03d}", f"v{i}"))
        ok(invoke(src, "put", "top", "t"))
        everything = kvctl_process(src, "make-mirror", whole.endpoint)
        to_root = kvctl_process(
            src, "make-mirror", "--prefix", "/app/", "--no-dest-prefix", root.endpoint
        )
        outputs = {}
        try:
            expected = {f"/app/k{i:03d}": f"v{i}" for i in range(150)} | {"top": "t"}
            wait_until(lambda: _values(whole.endpoint, "") == expected)
            wait_until(lambda: len(_values(root.endpoint, "")) == 150)
            for name, proc in (("whole", everything), ("root", to_root)):
                proc.send_signal(signal.SIGTERM)
                outputs[name] = (proc.communicate(timeout=15)[0], proc.returncode)
        finally:
            reap(everything)
            reap(to_root)
        assert _values(root.endpoint, "k0") == {f"k0{i:02d}": f"v{i}" for i in range(100)}
        assert outputs["whole"][1] == 0 and outputs["whole"][0].splitlines()[-1] == "151"
        assert outputs["root"][1] == 0 and outputs["root"][0].splitlines()[-1] == "150"


def test_make_mirror_usage_errors(kvctl: Kvctl, fresh_server: ServerProcess) -> None:
    both = kvctl("make-mirror", "--dest-prefix", "/x/", "--no-dest-prefix", fresh_server.endpoint)
    assert both.exit_code == 128
    assert "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time" in both.stderr
    missing = kvctl("make-mirror")
    assert missing.exit_code == 128 and "Traceback" not in missing.stderr
