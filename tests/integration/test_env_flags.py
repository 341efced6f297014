"""Flags from ETCD_* environment variables, as etcd takes them: every flag
``--foo-bar`` from ``ETCD_FOO_BAR``; the same variable and flag together, or a
value that does not parse, refuse to start with etcd's words (compared with
Debian's etcd); a variable that names no flag is logged and ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.etcdctl import Etcdctl
from tests.support.procs import ServerProcess, free_port, member_argv, run_to_end, running

CONFLICT = (
    'conflicting environment variable "ETCD_NAME" is shadowed by corresponding '
    "command-line flag (either unset environment variable or disable flag)"
)
INVALID = 'invalid value "abc" for ETCD_SNAPSHOT_COUNT: parse error'


def _start(system: str, tmp: Path, env: dict[str, str], *flags: str) -> str:
    """What ``system`` says when it refuses to start (stdout and stderr)."""
    proc = run_to_end([*member_argv(system), *flags], cwd=tmp, env=env)
    assert proc.returncode != 0, proc
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("system", ["etcd", "kvstore"])
def test_bad_environment_flags_refuse_to_start_as_in_etcd(system: str, tmp_path: Path) -> None:
    said = _start(system, tmp_path, {"ETCD_NAME": "a"}, "--name", "b")
    assert CONFLICT in said
    said = _start(system, tmp_path, {"ETCD_SNAPSHOT_COUNT": "abc"})
    assert INVALID in said
    assert not (tmp_path / "default.etcd").exists() and not (tmp_path / "default.kvstore").exists()


def test_a_member_configured_by_environment_serves(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "envmember"
    server = ServerProcess(
        "kvstore",
        "envmember",
        data_dir,
        port,
        member_argv("kvstore"),
        tmp_path / "envmember.log",
        extra_env={
            "ETCD_NAME": "envmember",
            "ETCD_DATA_DIR": str(data_dir),
            "ETCD_LISTEN_CLIENT_URLS": url,
            "ETCD_ADVERTISE_CLIENT_URLS": url,
            "ETCD_LOG_FORMAT": "text",
            "ETCD_NO_SUCH_FLAG": "1",
        },
    )
    with running(server):
        listed = Etcdctl(url).ok("member", "list")
        assert ", envmember, " in listed and url in listed
        log = server.log()
    assert "recognized and used environment variable ETCD_NAME=envmember" in log
    assert "unrecognized environment variable ETCD_NO_SUCH_FLAG=1" in log
    assert (data_dir / "member").is_dir()
