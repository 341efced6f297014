"""Usage errors exit with etcdctl's codes: Debian's etcdctl and kvctl make the
same mistakes against the same server."""

from __future__ import annotations

import importlib.metadata

import pytest

from tests.cli.conftest import Kvctl
from tests.support.etcdctl import Etcdctl
from tests.support.procs import ServerProcess

MISTAKES = [
    ("get",),  # missing key: 128
    ("put",),
    ("put", "k"),
    ("del",),
    ("get", "a", "b", "--prefix"),  # an argument too many
    ("put", "k", "v", "--lease", "xyz"),  # checked by the command
    ("lease", "grant"),
    ("lease", "grant", "abc"),
    ("lease", "revoke", "zz"),
    ("member", "remove"),
    ("compaction",),
    ("compaction", "abc"),  # parsed by the command: 1
    ("nosuchcmd",),  # unknown command: 1
    ("get", "k", "--nosuchflag"),  # unknown flag: 1
    ("get", "k", "--rev", "abc"),  # a flag's value: 1
    ("--dial-timeout", "soon", "get", "k"),
    ("-w", "xml", "get", "k"),  # output format: 4
    ("make-mirror",),  # no destination: 128
    ("make-mirror", "a:1", "b:2"),
]


@pytest.mark.parametrize("args", MISTAKES, ids=" ".join)
def test_a_usage_error_exits_as_etcdctls(
    server: ServerProcess, kvctl: Kvctl, args: tuple[str, ...]
) -> None:
    theirs = Etcdctl(server.url).run(*args)
    ours = kvctl(*args)
    assert theirs.returncode != 0, theirs.stderr
    assert ours.exit_code == theirs.returncode, (ours.stderr, theirs.stderr)
    assert "Error" in ours.stderr and "Traceback" not in ours.stderr


def test_malformed_txn_input_exits_as_etcdctls(server: ServerProcess, kvctl: Kvctl) -> None:
    text = "bogus\n\n\n\n"
    theirs = Etcdctl(server.url).run("txn", stdin=text)
    ours = kvctl("txn", input=text)
    assert (ours.exit_code, theirs.returncode) == (3, 3), (ours.stderr, theirs.stderr)


def test_version_prints_as_etcdctls(server: ServerProcess, kvctl: Kvctl) -> None:
    theirs = Etcdctl(server.url).run("version").stdout.splitlines()
    ours = kvctl("version")
    assert ours.exit_code == 0
    assert ours.stdout.splitlines() == [
        f"kvctl version: {importlib.metadata.version('kvstore')}",
        theirs[1],  # API version: 3.4
    ]
    assert theirs[0].startswith("etcdctl version: ")
