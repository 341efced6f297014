"""kvctl auth, user and role against real kvstore processes, checked against etcdctl 3.4.

Tests that enable auth get a server of their own (``fresh_server``). Where cheap,
the same command is run with Debian's etcdctl against the same server and the
outputs compared.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import pytest
from click.testing import Result

from tests.cli.conftest import Kvctl, invoke, ok
from tests.client.helpers import reap
from tests.support.etcdctl import Etcdctl
from tests.support.procs import REPO_ROOT, ServerProcess

DENIED = "Error: etcdserver: permission denied\n"


def fails(result: Result, code: int = 1) -> str:
    """stderr of a failed run, which must be exactly one ``Error:`` line."""
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stdout}{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    return result.stderr


def test_auth_enable_needs_a_root_user_with_the_root_role(fresh_server: ServerProcess) -> None:
    ep = fresh_server.endpoint
    assert fails(invoke(ep, "auth", "enable")) == "Error: etcdserver: root user does not exist\n"
    assert Etcdctl(fresh_server.url).run("auth", "enable").errors == [
        "Error: etcdserver: root user does not exist"
    ]
    assert ok(invoke(ep, "user", "add", "root:rootpw")) == "User root created\n"
    assert ok(invoke(ep, "user", "get", "root")) == "User: root\nRoles:\n"
    # the server refuses a root without the root role; kvctl adds and grants it, as etcdctl
    assert ok(invoke(ep, "auth", "enable")) == "Authentication Enabled\n"
    assert ok(invoke(ep, "--user", "root:rootpw", "user", "get", "root")) == (
        "User: root\nRoles: root\n"
    )
    assert ok(invoke(ep, "--user", "root:rootpw", "role", "list")) == "root\n"


def test_full_flow_with_a_reader(fresh_server: ServerProcess) -> None:
    ep = fresh_server.endpoint

    def root(*args: str, input: str | None = None) -> Result:
        return invoke(ep, "--user", "root:rootpw", *args, input=input)

    def alice(*args: str) -> Result:
        return invoke(ep, "--user", "alice:alicepw", *args)

    ok(invoke(ep, "user", "add", "root:rootpw"))
    ok(invoke(ep, "user", "grant-role", "root", "root"))
    assert ok(invoke(ep, "auth", "enable")) == "Authentication Enabled\n"
    assert ok(root("auth", "status")).startswith("Authentication Status: true\nAuthRevision: ")

    assert ok(root("put", "/app/x", "1")) == "OK\n"
    ok(root("put", "/other/y", "2"))
    assert fails(invoke(ep, "get", "/app/x")) == "Error: etcdserver: user name is empty\n"

    assert ok(root("role", "add", "app")) == "Role app created\n"
    assert ok(root("role", "grant-permission", "app", "read", "/app/", "--prefix")) == (
        "Role app updated\n"
    )
    assert ok(root("user", "add", "alice", input="alicepw\n")) == "User alice created\n"
    assert ok(root("user", "grant-role", "alice", "app")) == ("Role app is granted to user alice\n")

    assert ok(alice("get", "/app/x")) == "/app/x\n1\n"
    assert ok(alice("get", "/app/", "--prefix", "--print-value-only")) == "1\n"
    assert fails(alice("get", "/other/y")) == DENIED
    assert fails(alice("get", "/", "--prefix")) == DENIED
    assert fails(alice("put", "/app/x", "2")) == DENIED
    assert fails(alice("user", "list")) == DENIED
    assert fails(alice("auth", "disable")) == DENIED
    # a user may read itself and its own roles, as in etcd
    assert ok(alice("user", "get", "alice")) == "User: alice\nRoles: app\n"
    assert "[/app/, /app0) (prefix /app/)" in ok(alice("role", "get", "app"))
    wrong = invoke(ep, "--user", "alice:nope", "get", "/app/x")
    assert fails(wrong) == "Error: etcdserver: authentication failed, invalid user ID or password\n"

    assert fails(root("user", "delete", "root")) == "Error: etcdserver: invalid auth management\n"
    assert ok(root("user", "passwd", "alice", input="newpw\n")) == "Password updated\n"
    assert fails(alice("get", "/app/x")).startswith("Error: etcdserver: authentication failed")
    assert ok(invoke(ep, "--user", "alice:newpw", "get", "/app/x", "--print-value-only")) == "1\n"
    assert ok(root("user", "revoke-role", "alice", "app")) == (
        "Role app is revoked from user alice\n"
    )
    assert fails(invoke(ep, "--user", "alice:newpw", "get", "/app/x")) == DENIED

    assert ok(root("auth", "disable")) == "Authentication Disabled\n"
    assert ok(invoke(ep, "get", "/other/y", "--print-value-only")) == "2\n"
    assert ok(invoke(ep, "auth", "status")).startswith("Authentication Status: false\n")
    # credentials while auth is off are ignored, as etcdctl does
    assert ok(invoke(ep, "--user", "root:whatever", "get", "/other/y")) == "/other/y\n2\n"


# Each step runs as kvctl on the "k" names and as etcdctl on the "e" names; the
# outputs must agree once the names are swapped. JSON and fields outputs carry the
# same header, because auth changes do not move the store's revision.
STEPS: list[tuple[str, ...]] = [
    ("role", "add", "{r}"),
    ("role", "add", "{r}"),  # an error: role name already exists
    ("user", "add", "{u}:pw"),
    ("-w", "json", "user", "add", "{u}2:pw"),
    ("-w", "fields", "user", "add", "{u}3", "--no-password"),
    ("role", "grant-permission", "{r}", "read", "/a/", "--prefix"),
    ("role", "grant-permission", "{r}", "WRITE", "/k"),
    ("role", "grant-permission", "{r}", "readwrite", "/z", "--from-key"),
    ("-w", "json", "role", "grant-permission", "{r}", "readwrite", "/m", "/n"),
    ("role", "grant-permission", "nosuchrole", "read", "/x"),
    ("user", "grant-role", "{u}", "{r}"),
    ("user", "grant-role", "{u}", "nosuchrole"),
    ("role", "get", "{r}"),
    ("-w", "json", "role", "get", "{r}"),
    ("-w", "fields", "role", "get", "{r}"),
    ("user", "get", "{u}"),
    ("user", "get", "{u}", "--detail"),
    ("-w", "json", "user", "get", "{u}"),
    ("user", "get", "nosuchuser"),
    ("role", "revoke-permission", "{r}", "/k"),
    ("role", "revoke-permission", "{r}", "/a/", "--prefix"),
    ("role", "revoke-permission", "{r}", "/z", "--from-key"),
    ("role", "revoke-permission", "{r}", "/m", "/n"),
    ("role", "revoke-permission", "{r}", "/m", "/n"),  # not granted any more
    ("user", "passwd", "{u}", "--interactive=false"),
    ("user", "revoke-role", "{u}", "{r}"),
    ("user", "revoke-role", "{u}", "{r}"),  # not granted any more
    ("-w", "json", "user", "delete", "{u}2"),
    ("user", "delete", "{u}3"),
    ("user", "delete", "{u}3"),  # gone
    ("role", "delete", "{r}"),
]


def test_outputs_match_etcdctl(fresh_server: ServerProcess) -> None:
    ep = fresh_server.endpoint
    etcdctl = Etcdctl(fresh_server.url)
    for step in STEPS:
        ours = invoke(ep, *(a.format(r="role-k", u="user-k") for a in step), input="pw2\n")
        theirs = etcdctl.run(*(a.format(r="role-e", u="user-e") for a in step), stdin="pw2\n")
        expected = theirs.stdout.replace("role-e", "role-k").replace("user-e", "user-k")
        assert ours.stdout == expected, step
        assert ours.exit_code == theirs.returncode, (step, ours.stderr, theirs.stderr)
        if theirs.returncode:
            assert ours.stderr.splitlines() == [
                e.replace("role-e", "role-k").replace("user-e", "user-k") for e in theirs.errors
            ], step

    # lists hold both sets of names, so here the outputs are simply equal
    for args in (
        ("user", "list"),
        ("role", "list"),
        ("-w", "json", "user", "list"),
        ("-w", "json", "role", "list"),
        ("-w", "fields", "role", "list"),
    ):
        assert ok(invoke(ep, *args)) == etcdctl.ok(*args), args
    assert ok(invoke(ep, "user", "list")) == "user-e\nuser-k\n"


def test_outputs_etcdctl_lacks(fresh_server: ServerProcess) -> None:
    """Tables for get and list, one JSON document a line for --detail, auth status."""
    ep = fresh_server.endpoint
    ok(invoke(ep, "role", "add", "r1"))
    ok(invoke(ep, "role", "grant-permission", "r1", "read", "/a", "/b"))
    ok(invoke(ep, "user", "add", "u1", "--no-password"))
    ok(invoke(ep, "user", "grant-role", "u1", "r1"))
    user_doc, role_doc = map(
        json.loads, ok(invoke(ep, "-w", "json", "user", "get", "u1", "--detail")).splitlines()
    )
    assert user_doc["roles"] == ["r1"]
    assert role_doc["perm"] == [{"key": "L2E=", "range_end": "L2I="}]  # READ is 0: omitted
    status = json.loads(ok(invoke(ep, "-w", "json", "auth", "status")))
    assert "enabled" not in status and status["authRevision"] > 0
    table = ok(invoke(ep, "-w", "table", "role", "get", "r1")).splitlines()
    assert table[1].split() == ["|", "TYPE", "|", "KEY", "|", "RANGE", "END", "|"]
    assert table[3].split() == ["|", "READ", "|", "/a", "|", "/b", "|"]
    roles = ok(invoke(ep, "-w", "table", "role", "list")).splitlines()
    assert roles[1].split() == ["|", "ROLE", "|"] and roles[3].split() == ["|", "r1", "|"]


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("role", "grant-permission", "r1", "bogus", "/x"), "'bogus' is not one of", 128),
        (("role", "grant-permission", "r1", "read"), "Missing argument 'KEY'", 128),
        (("role", "grant-permission", "r1"), "Missing argument 'PERMISSION_TYPE'", 128),
        (("role", "grant-permission", "r1", "read", "/a", "/b", "--prefix"), "with --prefix", 128),
        (
            ("role", "grant-permission", "r1", "read", "/a", "--prefix", "--from-key"),
            "exclusive",
            128,
        ),
        (("role", "revoke-permission", "r1", "/a", "/b", "--from-key"), "with --from-key", 128),
        (("role", "revoke-permission", "r1"), "Missing argument 'KEY'", 128),
        (("role", "add"), "Missing argument 'NAME'", 128),
        (("role", "get", "a", "b"), "unexpected extra argument", 128),
        (("user", "add"), "Missing argument 'NAME[:PASSWORD]'", 128),
        (("user", "add", ":pw"), "empty user name is not allowed", 128),
        (("user", "add", "nopw"), "no password for nopw on stdin", 128),
        (("user", "add", "u:pw", "--no-password"), "mutually exclusive", 128),
        (("user", "add", "u", "--interactive=maybe"), "not a valid boolean", 1),
        (("user", "grant-role", "alice"), "Missing argument 'ROLE'", 128),
        (("user", "passwd", "alice"), "no password for alice on stdin", 128),
        (("auth", "bogus"), "No such command 'bogus'", 1),
    ],
)
def test_bad_input_is_a_usage_error(
    kvctl: Kvctl, args: tuple[str, ...], message: str, code: int
) -> None:
    """Exit codes as etcdctl's for the same input (128: bad arguments; 1: a bad
    flag value or an unknown command, where etcdctl 3.4 prints help and exits 0)."""
    result = kvctl(*args, input="")
    assert message in fails(result, code=code)
    assert result.stdout == ""


# --- the password prompt on a terminal -----------------------------------------


class Terminal:
    """kvctl in a real process whose stdin is a pseudo-terminal (no controlling
    terminal, so getpass reads the pty and prompts on stderr)."""

    def __init__(self, endpoint: str, *args: str) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kvstore.cli", "--endpoints", endpoint, *args],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        os.close(slave)
        self.stderr = b""

    def answer(self, prompt: str, line: str, timeout: float = 20.0) -> None:
        """Wait for ``prompt`` on stderr, then type ``line``."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        deadline = time.monotonic() + timeout
        while prompt.encode() not in self.stderr:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no prompt {prompt!r}; stderr so far {self.stderr!r}"
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 4096)
                assert chunk, f"stderr closed before {prompt!r}: {self.stderr!r}"
                self.stderr += chunk
        self.stderr = self.stderr.split(prompt.encode(), 1)[1]
        os.write(self.master, line.encode() + b"\n")

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out.decode(), (self.stderr + err).decode()

    def close(self) -> None:
        reap(self.proc)
        os.close(self.master)


def test_user_add_prompts_twice_on_a_terminal(fresh_server: ServerProcess) -> None:
    ep = fresh_server.endpoint
    term = Terminal(ep, "user", "add", "root")
    try:
        term.answer("Password of root: ", "s3cret")
        term.answer("Type password of root again for confirmation: ", "s3cret")
        code, out, err = term.finish()
    finally:
        term.close()
    assert (code, out) == (0, "User root created\n"), err
    assert "s3cret" not in out + err  # hidden input

    mismatch = Terminal(ep, "user", "passwd", "root")
    try:
        mismatch.answer("Password of root: ", "one")
        mismatch.answer("Type password of root again for confirmation: ", "two")
        code, out, err = mismatch.finish()
    finally:
        mismatch.close()
    assert code == 128 and out == "" and "given passwords are different" in err  # as etcdctl
    assert "Traceback" not in err

    # the password typed at the prompt is the one stored (and the mismatch changed nothing)
    ok(invoke(ep, "auth", "enable"))
    assert ok(invoke(ep, "--user", "root:s3cret", "user", "list")) == "root\n"
    assert fails(invoke(ep, "--user", "root:one", "user", "list")).startswith(
        "Error: etcdserver: authentication failed"
    )
