"""Container processes: start one in its own process group, find it again after an
agent restart, and stop its whole group.

A started process is described by a :class:`ProcessRecord` written next to its logs
(``<data-dir>/pods/<pod uid>/<container>.json``). The record names the process by
pid *and* start time (field 22 of ``/proc/PID/stat``, clock ticks since boot), so a
recycled pid is never mistaken for our process: an agent that restarts either adopts
a live, matching process or kills its group — never orphans it, never runs two copies.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from kvstore.controllers.resources import bytes_of


@dataclass
class ProcessRecord:
    pid: int
    start_ticks: int
    container: str
    restart_count: int
    log_path: str
    started_at: str


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, from the
    state (field 3) on; None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot; None if gone or a zombie."""
    fields = stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_alive(record: ProcessRecord) -> bool:
    return start_ticks(record.pid) == record.start_ticks


def save(record: ProcessRecord, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record)))
    os.replace(tmp, path)


def load(path: Path) -> ProcessRecord | None:
    try:
        return ProcessRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group led by ``pid`` (the container's session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def kill_record(record: ProcessRecord) -> None:
    """SIGKILL a recorded process group, only if the pid is still that process."""
    if is_alive(record):
        signal_group(record.pid, signal.SIGKILL)


_RLIMIT_EXEC = (
    "import os, resource, sys; "
    "n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_AS, (n, n)); "
    "os.execvp(sys.argv[2], sys.argv[2:])"
)


def with_limits(argv: list[str], resources: dict[str, object]) -> list[str]:
    """``argv`` behind a tiny exec wrapper that sets ``limits.memory`` as RLIMIT_AS.

    Not ``preexec_fn``: that forces a plain ``fork()`` of the agent, whose gRPC
    threads then crash the child (and fork with threads is unsafe anyway). A CPU
    limit is a rate, which no rlimit expresses (RLIMIT_CPU kills after N seconds of
    CPU), so it is not applied.
    """
    limits = (resources or {}).get("limits") or {}
    assert isinstance(limits, dict)
    memory = bytes_of(limits["memory"]) if "memory" in limits else 0
    if not memory:
        return argv
    return [sys.executable, "-c", _RLIMIT_EXEC, str(memory), *argv]


def spawn(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str | None,
    log_path: Path,
    resources: dict[str, object],
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as the leader of a new session, stdout+stderr to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(
            with_limits(argv, resources),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
