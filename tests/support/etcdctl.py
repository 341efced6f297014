"""Running Debian's etcdctl (API v3) against a server, always with a deadline.

``Etcdctl.run`` runs one command to completion; ``Etcdctl.background`` starts a
long-running one (watch, lock, elect) whose stdout is collected by a thread,
and kills and reaps it on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

RUN_TIMEOUT = 20.0


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        """The ``Error: ...`` lines of stderr (etcdctl's log lines are left out)."""
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]


class Background:
    """A running etcdctl whose output lines accumulate in ``lines``."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._lines: list[str] = []
        self._lock = threading.Lock()
        assert proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def wait_for_lines(self, expected: list[str], timeout: float = 15.0) -> list[str]:
        """Wait until the output starts with ``expected`` (or fail, showing the output)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.lines
            if lines[: len(expected)] == expected:
                return lines
            if len(lines) >= len(expected) and lines[: len(expected)] != expected:
                break
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                lines = self.lines
                if lines[: len(expected)] == expected:
                    return lines
                break
            time.sleep(0.02)
        raise AssertionError(f"expected output {expected!r}, got {self.lines!r}")

    def wait_for_line_count(self, count: int, timeout: float = 15.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.lines
            if len(lines) >= count:
                return lines
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                if len(self.lines) >= count:
                    return self.lines
                break
            time.sleep(0.02)
        raise AssertionError(f"expected {count} output lines, got {self.lines!r}")

    def wait_exit(self, timeout: float = 15.0) -> int:
        returncode = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return returncode

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` and reap; SIGKILL if it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)


@dataclass(frozen=True)
class Etcdctl:
    """etcdctl bound to one endpoint URL."""

    url: str

    def argv(self, *args: str) -> list[str]:
        binary = shutil.which("etcdctl")
        if binary is None:
            raise RuntimeError(
                "Debian's etcd-client is not installed (apt-get install etcd-client)"
            )
        return [
            binary,
            f"--endpoints={self.url}",
            "--dial-timeout=5s",
            "--command-timeout=10s",
            *args,
        ]

    @staticmethod
    def env() -> dict[str, str]:
        env = dict(os.environ)
        env["ETCDCTL_API"] = "3"
        return env

    def run(self, *args: str, stdin: str | None = None, timeout: float = RUN_TIMEOUT) -> Result:
        proc = subprocess.run(
            self.argv(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            stdin=None if stdin is not None else subprocess.DEVNULL,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """Run, assert exit code 0, return stdout."""
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, f"etcdctl {args} failed: {result}"
        return result.stdout

    @contextlib.contextmanager
    def background(self, *args: str) -> Iterator[Background]:
        proc = subprocess.Popen(
            self.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
        )
        bg = Background(proc)
        try:
            yield bg
        finally:
            bg.stop()
