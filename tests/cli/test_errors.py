"""Errors: one line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from tests.cli.conftest import Kvctl, invoke
from tests.support.procs import REPO_ROOT, free_port


def test_unreachable_endpoint_is_one_line() -> None:
    dead = f"127.0.0.1:{free_port()}"
    result = invoke(dead, "--dial-timeout", "200ms", "--command-timeout", "500ms", "get", "k")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert dead in result.stderr


def test_unreachable_endpoint_in_a_real_process() -> None:
    dead = f"127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "kvstore.cli", "--endpoints", dead, "--dial-timeout", "200ms",
         "--command-timeout", "500ms", "put", "k", "v"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("Error: ") and len(proc.stderr.splitlines()) == 1


def test_usage_errors_exit_with_etcdctls_codes(kvctl: Kvctl) -> None:
    """1 for a bad flag, 4 for an output format etcdctl lacks, 128 for bad
    arguments (test_exit_codes compares each with etcdctl's)."""
    for args, code in (
        (("get", "k", "--bogus"), 1),
        (("-w", "xml", "get", "k"), 4),
        (("get",), 128),
        (("--dial-timeout", "soon", "get", "k"), 1),
        (("get", "a", "b", "--prefix"), 128),
        (("put", "k", "v", "--lease", "xyz"), 128),
    ):
        result = kvctl(*args)
        assert result.exit_code == code, args
        assert "Traceback" not in result.stderr


def test_server_errors_are_one_line(kvctl: Kvctl) -> None:
    future = kvctl("get", "k", "--rev", "999999999")
    assert future.exit_code == 1
    assert future.stderr == "Error: etcdserver: mvcc: required revision is a future revision\n"
    missing_lease = kvctl("put", "k", "v", "--lease", "abc")
    assert missing_lease.stderr == "Error: etcdserver: requested lease not found\n"


def test_snapshot_status_of_a_corrupt_file(kvctl: Kvctl, tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "bad.db"
    path.write_bytes(b"\0" * 4096)
    result = kvctl("snapshot", "status", str(path))
    assert result.exit_code == 1 and "sha256 mismatch" in result.stderr
