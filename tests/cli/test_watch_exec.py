"""kvctl watch's ``-- COMMAND`` and ``-i``, and lock's ``--``, against etcdctl's
behaviour on the same server (real kvctl and etcdctl processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.cli.conftest import Kvctl, ok
from tests.client.helpers import reap
from tests.support.etcdctl import Etcdctl
from tests.support.procs import REPO_ROOT, ServerProcess

#: writes the event's variables to the file named by its first argument, then fails
ENV_SCRIPT = 'env | grep ^ETCD_WATCH_ | sort > "$0"; exit 3'
#: a value with a quote, a backslash, a newline, a non-ASCII letter and bytes
#: that are not UTF-8: Go's %q escapes some of them and keeps the letter
TRICKY = b'a"b\\c\nd \xc3\xa9\x01\xff'


def _kvctl_argv(endpoint: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "kvstore.cli", "--endpoints", endpoint, *args]


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=30, cwd=REPO_ROOT, env=env, check=False
    )


def _revision(kvctl: Kvctl) -> int:
    revision: int = json.loads(ok(kvctl("-w", "json", "get", "any")))["header"]["revision"]
    return revision


def test_command_runs_per_event_with_etcdctls_environment(
    server: ServerProcess, kvctl: Kvctl, ns: str, tmp_path: Path
) -> None:
    key = ns + "w"
    start = str(_revision(kvctl) + 1)
    ctl = Etcdctl(server.url)
    outputs = {"kvctl": tmp_path / "kvctl.env", "etcdctl": tmp_path / "etcdctl.env"}
    watch = ["watch", key, "--rev", start, "--", "sh", "-c", ENV_SCRIPT]
    procs = {
        "kvctl": subprocess.Popen(
            [*_kvctl_argv(server.endpoint, *watch), str(outputs["kvctl"])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        ),
        "etcdctl": subprocess.Popen(
            [*ctl.argv(*watch), str(outputs["etcdctl"])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=ctl.env(),
        ),
    }
    try:
        ok(kvctl("put", key, input=TRICKY))  # the value from stdin, bytes as they are
        errors = {name: proc.communicate(timeout=30)[1] for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            reap(proc)  # type: ignore[arg-type]
    # the command failed (exit 3): both say so the same way and exit 1
    assert {name: proc.returncode for name, proc in procs.items()} == {"kvctl": 1, "etcdctl": 1}
    lines = {
        name: errors[name].strip().splitlines()[-1].replace(str(outputs[name]), "OUT")
        for name in procs
    }
    assert lines["kvctl"] == lines["etcdctl"]
    assert lines["kvctl"] == (
        'command ["sh" "-c" "env | grep ^ETCD_WATCH_ | sort > \\"$0\\"; exit 3" "OUT"] '
        "error (exit status 3)"
    )
    seen = outputs["kvctl"].read_bytes()
    assert seen == outputs["etcdctl"].read_bytes()
    assert b'ETCD_WATCH_KEY="' + key.encode() + b'"\n' in seen
    assert b'ETCD_WATCH_EVENT_TYPE="PUT"\n' in seen
    assert b'ETCD_WATCH_VALUE="a\\"b\\\\c\\nd \xc3\xa9\\x01\\xff"\n' in seen


def test_separator_without_command_and_missing_command_as_etcdctl(
    server: ServerProcess, ns: str
) -> None:
    ctl = Etcdctl(server.url)
    no_command = "bad number of arguments (found separator --, but no commands)"
    cases = [
        (["watch", ns + "k", "--"], no_command),
        (["watch", "--", "echo", "hi"], "bad number of arguments"),
    ]
    for args, message in cases:
        ours = _run(_kvctl_argv(server.endpoint, *args))
        theirs = ctl.run(*args)
        assert ours.returncode == theirs.returncode == 128, (args, ours.stderr, theirs.stderr)
        assert theirs.errors == [f"Error: {message}"]
        assert ours.stderr.strip().splitlines()[-1] == f"Error: {message}"


def test_a_command_that_cannot_run_is_reported_as_etcdctl_does(
    server: ServerProcess, kvctl: Kvctl, ns: str
) -> None:
    key = ns + "nocmd"
    watch = ["watch", key, "--rev", str(_revision(kvctl) + 1), "--", "no-such-command-here", "x"]
    ok(kvctl("put", key, "v"))
    ours = _run(_kvctl_argv(server.endpoint, *watch))
    theirs = _run(Etcdctl(server.url).argv(*watch), env=Etcdctl.env())
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.strip().splitlines()[-1] == theirs.stderr.strip().splitlines()[-1]
    assert ours.stderr.strip().endswith(
        'command ["no-such-command-here" "x"] error '
        '(exec: "no-such-command-here": executable file not found in $PATH)'
    )


def test_interactive_lines_that_are_no_request_as_etcdctl(server: ServerProcess) -> None:
    lines = "bogus x\n\nwatch\n"
    ours = subprocess.run(
        _kvctl_argv(server.endpoint, "watch", "-i"),
        input=lines,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO_ROOT,
        check=False,
    )
    theirs = Etcdctl(server.url).run("watch", "-i", stdin=lines)
    expected = [
        "Invalid command bogus x (only support watch)",
        "Invalid command:  (watch and progress supported)",
        "Invalid command watch (command type or key is not provided)",
        "Error: Error reading watch request line: EOF",
    ]
    assert theirs.stderr.splitlines() == expected
    assert ours.stderr.splitlines() == expected
    assert ours.returncode == theirs.returncode == 3


class _Lines:
    """A stream's lines, collected by a thread."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, done: object, what: str, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(list(self.lines)):  # type: ignore[operator]
                return list(self.lines)
            time.sleep(0.02)
        raise AssertionError(f"{what}: got {self.lines!r}")


def test_interactive_watches_run_commands_and_report_progress(
    server: ServerProcess, kvctl: Kvctl, ns: str
) -> None:
    key = ns + "i/k"
    start = _revision(kvctl) + 1
    proc = subprocess.Popen(
        _kvctl_argv(server.endpoint, "watch", "-i"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdin is not None
        out, err = _Lines(proc.stdout), _Lines(proc.stderr)
        proc.stdin.write(f"watch --rev {start} {key}\n")
        run = "sh -c 'echo ran $ETCD_WATCH_KEY'"
        proc.stdin.write(f"watch --prefix {ns}i/ --rev {start} -- {run}\n")
        proc.stdin.write(f"watch {key} {key}z --prefix\n")  # refused, the others go on
        proc.stdin.flush()
        written = json.loads(ok(kvctl("-w", "json", "put", key, "v1")))["header"]["revision"]
        seen = out.wait_for(lambda ls: f'ran "{key}"' in ls and ls.count("PUT") == 2, "events")
        assert seen.count(key) == 2 and seen.count("v1") == 2
        proc.stdin.write("progress\n")
        proc.stdin.flush()
        notes = out.wait_for(
            lambda ls: sum(line.startswith("progress notify: ") for line in ls) == 2, "progress"
        )
        revisions = [int(n.split(": ")[1]) for n in notes if n.startswith("progress notify: ")]
        assert all(r >= written for r in revisions), notes
        proc.stdin.close()
        assert proc.wait(timeout=20) == 3
        errors = err.wait_for(lambda ls: len(ls) >= 2, "errors")
    finally:
        reap(proc)  # type: ignore[arg-type]
    assert errors == [
        f"Invalid command watch {key} {key}z --prefix "
        "(use only one of RANGE_END, --prefix and --from-key)",
        "Error: Error reading watch request line: EOF",
    ]


def test_lock_takes_its_options_before_a_separator_and_the_command_after_it(
    kvctl: Kvctl, ns: str, tmp_path: Path
) -> None:
    name, seen = ns + "sep", tmp_path / "seen"
    script = f'echo "$@" > {seen}'
    ok(kvctl("lock", name, "--ttl", "5", "--", "sh", "-c", script, "sh", "-w", "json"))
    assert seen.read_text() == "-w json\n"  # after --, kvctl's own -w is the command's
    refused = kvctl("lock", name, "--ttl", "0", "--", "sh", "-c", f"echo ran > {seen}")
    assert refused.exit_code != 0 and "--ttl" in refused.stderr
    assert seen.read_text() == "-w json\n"


def test_the_key_may_come_from_etcdctls_environment(
    server: ServerProcess, kvctl: Kvctl, ns: str, tmp_path: Path
) -> None:
    """``ETCDCTL_WATCH_KEY`` (and ``ETCDCTL_WATCH_RANGE_END``) name the range
    when no KEY is given; both tools refuse the same misuses the same way."""
    ctl = Etcdctl(server.url)
    base = {**ctl.env(), "PYTHONPATH": str(REPO_ROOT)}
    argv = {
        "kvctl": lambda *a: _kvctl_argv(server.endpoint, *a),
        "etcdctl": lambda *a: ctl.argv(*a),
    }
    misuses = [
        ({"ETCDCTL_WATCH_RANGE_END": "fop"}, ("watch", "--", "true")),
        ({"ETCDCTL_WATCH_KEY": ns + "a"}, ("watch", ns + "b", "--", "true")),
    ]
    for extra, args in misuses:
        answers = {name: _run(make(*args), env={**base, **extra}) for name, make in argv.items()}
        last = {n: (r.returncode, r.stderr.strip().splitlines()[-1]) for n, r in answers.items()}
        assert last["kvctl"] == last["etcdctl"], last
        assert last["kvctl"][0] == 128

    key = ns + "envkey"
    start = str(_revision(kvctl) + 1)
    outputs = {name: tmp_path / f"{name}.env" for name in argv}
    env = {**base, "ETCDCTL_WATCH_KEY": key}
    script = 'env | grep ^ETCD_WATCH_KEY > "$0"; exit 3'
    procs = {
        name: subprocess.Popen(
            [*make("watch", "--rev", start, "--", "sh", "-c", script), str(outputs[name])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
        )
        for name, make in argv.items()
    }
    try:
        ok(kvctl("put", ns + "other", "x"))  # outside the watched key
        ok(kvctl("put", key, "v"))
        for proc in procs.values():
            proc.wait(timeout=30)
    finally:
        for proc in procs.values():
            reap(proc)  # type: ignore[arg-type]
    got = {name: path.read_text() for name, path in outputs.items()}
    assert got["kvctl"] == got["etcdctl"] == f'ETCD_WATCH_KEY="{key}"\n'
