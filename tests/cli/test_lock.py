"""kvctl lock: held by a real kvctl process, excluded, released on SIGTERM,
and a command run under the lock with etcdctl's environment variables."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.conftest import Kvctl, ok
from tests.cli.test_watch_lease import kvctl_process
from tests.client.helpers import reap
from tests.support.procs import ServerProcess, wait_until


def _keys(kvctl: Kvctl, name: str) -> list[str]:
    return ok(kvctl("get", name + "/", "--prefix", "--keys-only")).split()


def test_command_runs_under_the_lock_with_its_key_and_revision(
    kvctl: Kvctl, ns: str, tmp_path: Path
) -> None:
    name, seen = ns + "job", tmp_path / "seen"
    script = f'echo "$ETCD_LOCK_KEY $ETCD_LOCK_REV" > {seen}'
    ok(kvctl("lock", name, "sh", "-c", script))
    key, rev = seen.read_text().split()
    assert re.fullmatch(re.escape(name) + r"/[0-9a-f]+", key), key
    assert int(rev) > 1
    assert _keys(kvctl, name) == []  # released when the command ended


def test_a_failing_command_fails_kvctl_and_still_releases(kvctl: Kvctl, ns: str) -> None:
    name = ns + "job"
    result = kvctl("lock", name, "sh", "-c", "exit 3")
    assert result.exit_code == 1 and result.stderr == "Error: exit status 3\n"
    missing = kvctl("lock", name, "no-such-command-here")
    assert missing.exit_code == 1 and "cannot run 'no-such-command-here'" in missing.stderr
    assert _keys(kvctl, name) == []


def test_a_held_lock_excludes_a_second_locker_until_the_holder_stops(
    server: ServerProcess, kvctl: Kvctl, ns: str, tmp_path: Path
) -> None:
    name, ran = ns + "mutex", tmp_path / "ran"
    holder = kvctl_process(server.endpoint, "lock", name)
    waiter: subprocess.Popen[str] | None = None
    try:
        assert holder.stdout is not None
        held = holder.stdout.readline().strip()
        assert re.fullmatch(re.escape(name) + r"/[0-9a-f]+", held), held
        waiter = kvctl_process(server.endpoint, "lock", name, "sh", "-c", f"echo x > {ran}")
        wait_until(lambda: len(_keys(kvctl, name)) == 2)  # queued behind the holder
        time.sleep(0.5)
        assert not ran.exists() and waiter.poll() is None
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(timeout=15) == 0
        assert waiter.wait(timeout=15) == 0, waiter.communicate()
        assert ran.read_text() == "x\n"
        assert _keys(kvctl, name) == []
    finally:
        reap(holder)
        if waiter is not None:
            reap(waiter)


def test_interrupted_while_waiting_fails_and_leaves_the_queue(
    server: ServerProcess, kvctl: Kvctl, ns: str, tmp_path: Path
) -> None:
    name = ns + "mutex"
    holder = kvctl_process(server.endpoint, "lock", name)
    waiter: subprocess.Popen[str] | None = None
    try:
        assert holder.stdout is not None
        held = holder.stdout.readline().strip()
        waiter = kvctl_process(server.endpoint, "lock", name, sys.executable, "-c", "pass")
        wait_until(lambda: len(_keys(kvctl, name)) == 2)
        waiter.send_signal(signal.SIGINT)
        _, err = waiter.communicate(timeout=15)
        assert waiter.returncode == 1
        assert err == "Error: interrupted while waiting for the lock\n"
        assert _keys(kvctl, name) == [held]  # the holder's key alone
    finally:
        reap(holder)
        if waiter is not None:
            reap(waiter)
