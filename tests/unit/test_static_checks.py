"""The house rules hold: mypy --strict on kvstore/ and bench/, ruff on everything."""

from __future__ import annotations

import subprocess
import sys

from tests.support.procs import REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_mypy_strict() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_and_format() -> None:
    check = _run("ruff", "check", "kvstore", "tests", "bench")
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = _run("ruff", "format", "--check", "kvstore", "tests", "bench")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
