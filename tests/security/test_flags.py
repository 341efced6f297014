"""Security flags: combinations that cannot work are one-line usage errors (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvstore.main import main
from tests.security.support import Certs, write_rsa_pair


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    certs = Certs.make(tmp_path_factory.mktemp("certs"))
    write_rsa_pair(certs.dir / "jwt.key", certs.dir / "jwt.pub")
    write_rsa_pair(certs.dir / "other.key", certs.dir / "other.pub")
    return certs


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--listen-client-urls", "https://127.0.0.1:1"], "needs --cert-file and --key-file"),
        (["--cert-file", "{d}/server.crt"], "--cert-file and --key-file go together"),
        (
            ["--cert-file", "{d}/server.crt", "--key-file", "{d}/server.key", "--client-cert-auth"],
            "--client-cert-auth needs --trusted-ca-file",
        ),
        (["--auth-token", "paseto"], "use 'simple' or 'jwt,pub-key=FILE"),
        (["--auth-token", "jwt"], "--auth-token jwt needs pub-key, priv-key, sign-method"),
        (["--auth-token", "jwt,pub-key={d}/jwt.pub,colour=red"], "bad option 'colour=red'"),
        (
            ["--auth-token", "jwt,pub-key={d}/none.pem,priv-key={d}/jwt.key,sign-method=RS256"],
            "pub-key {d}/none.pem: No such file or directory",
        ),
        (
            ["--auth-token", "jwt,pub-key={d}/jwt.pub,priv-key={d}/jwt.key,sign-method=none"],
            "sign-method 'none': use one of RS256",
        ),
        (["--auth-token", "jwt,priv-key={d}/jwt.key,sign-method=RS256"], "jwt needs pub-key"),
        (["--auth-token", "jwt,sign-method=HS256"], "jwt needs priv-key (expected"),
        (
            ["--auth-token", "jwt,priv-key={d}/jwt.key,sign-method=HS256"],
            "not a key for this sign-method",
        ),
        (
            ["--auth-token", "jwt,pub-key={d}/jwt.pub,priv-key={d}/jwt.key,sign-method=ES256"],
            "priv-key {d}/jwt.key: not a key for this sign-method",
        ),
        (
            ["--auth-token", "jwt,pub-key={d}/other.pub,priv-key={d}/jwt.key,sign-method=RS256"],
            "pub-key does not check what priv-key signs",
        ),
        (
            [
                "--auth-token",
                "jwt,pub-key={d}/jwt.pub,priv-key={d}/jwt.key,sign-method=RS256,ttl=5",
            ],
            "--auth-token ttl: invalid duration '5'",
        ),
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
    assert message.format(d=certs.dir) in capsys.readouterr().err
