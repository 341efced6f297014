"""A member whose peer or client port is taken stops with a clear error (as etcd does)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.support.procs import REPO_ROOT, free_port


def test_member_exits_when_its_peer_port_is_taken(tmp_path: Path) -> None:
    peer, other, client = free_port(), free_port(), free_port()
    (tmp_path / "secret").write_text("s")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", peer))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "kvstore", "--name", "a", "--data-dir", str(tmp_path / "a"),
             "--listen-client-urls", f"http://127.0.0.1:{client}",
             "--initial-cluster", f"a=http://127.0.0.1:{peer},b=http://127.0.0.1:{other}",
             "--peer-secret-file", str(tmp_path / "secret"), "--log-format", "text"],
            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen for peers on 127.0.0.1:{peer}" in result.stderr


def test_member_exits_when_its_client_port_is_taken(tmp_path: Path) -> None:
    client = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", client))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "kvstore", "--name", "a", "--data-dir", str(tmp_path / "a"),
             "--listen-client-urls", f"http://127.0.0.1:{client}", "--log-format", "text"],
            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen for clients on 127.0.0.1:{client}" in result.stderr
    assert "Traceback" not in result.stderr
