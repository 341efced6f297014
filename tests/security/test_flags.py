"""Security flags: combinations that cannot work are one-line usage errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvstore.main import main
from tests.security.support import Certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs.make(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--listen-client-urls", "https://127.0.0.1:1"], "needs --cert-file and --key-file"),
        (["--cert-file", "{d}/server.crt"], "--cert-file and --key-file go together"),
        (
            ["--cert-file", "{d}/server.crt", "--key-file", "{d}/server.key", "--client-cert-auth"],
            "--client-cert-auth needs --trusted-ca-file",
        ),
        (["--auth-token", "jwt"], "only 'simple' tokens are supported"),
        (
            [
                "--initial-cluster",
                "a=http://127.0.0.1:1,b=http://127.0.0.1:2",
                "--name",
                "a",
                "--insecure-peers",
                "--peer-cert-file",
                "{d}/peer.crt",
                "--peer-key-file",
                "{d}/peer.key",
            ],
            "peer TLS needs --peer-trusted-ca-file",
        ),
    ],
)
def test_usage_errors(
    flags: list[str], message: str, certs: Certs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [f.format(d=certs.dir) for f in flags]
    assert main(["--data-dir", str(tmp_path), "--log-format", "text", *argv]) == 2
    assert message in capsys.readouterr().err
