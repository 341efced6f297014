"""Client TLS with etcd's flags, checked with Debian's etcdctl and grpc clients."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.cli.conftest import invoke, ok
from tests.cli.test_watch_lease import kvctl_process
from tests.client.helpers import reap
from tests.security.support import Certs, Ctl, TLSServer, setup_reader, tls_member
from tests.support.procs import REPO_ROOT, kvstore_process, running, wait_until


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs.make(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs.make(tmp_path_factory.mktemp("other-ca"))


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> Iterator[TLSServer]:
    with tls_member(tmp_path_factory.mktemp("mtls"), certs) as server:
        yield server


def test_etcdctl_over_mutual_tls(mtls: TLSServer, certs: Certs) -> None:
    ctl = Ctl(mtls.url, certs=certs)
    ctl.ok("put", "tls-key", "v1")
    assert ctl.ok("get", "tls-key", "--print-value-only").strip() == "v1"


def test_plaintext_client_against_tls_port_fails_cleanly(mtls: TLSServer) -> None:
    plain = Ctl(f"http://{mtls.endpoint}")
    started = time.monotonic()
    result = plain.run("--dial-timeout=1s", "--command-timeout=2s", "get", "tls-key")
    assert result.returncode != 0
    assert result.errors == ["Error: context deadline exceeded"]
    assert time.monotonic() - started < 15
    with grpc.insecure_channel(mtls.endpoint) as channel, pytest.raises(grpc.RpcError) as err:
        rpc_pb2_grpc.KVStub(channel).Range(rpc_pb2.RangeRequest(key=b"k"), timeout=3)
    assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert mtls.proc is not None and mtls.proc.poll() is None  # the server shrugs it off


def test_client_without_certificate_is_refused(mtls: TLSServer, certs: Certs) -> None:
    ctl = Ctl(mtls.url, certs=certs, client=None)
    result = ctl.run("--dial-timeout=1s", "--command-timeout=2s", "get", "tls-key")
    assert result.returncode != 0


def test_client_certificate_of_another_ca_is_refused(
    mtls: TLSServer, certs: Certs, other_ca: Certs
) -> None:
    # trusts the right CA for the server, but presents a certificate of another CA
    ctl = Ctl(mtls.url, certs=other_ca, ca=certs.path("ca.crt"))
    result = ctl.run("--dial-timeout=1s", "--command-timeout=2s", "get", "tls-key")
    assert result.returncode != 0
    creds = grpc.ssl_channel_credentials(
        (certs.dir / "ca.crt").read_bytes(),
        (other_ca.dir / "client.key").read_bytes(),
        (other_ca.dir / "client.crt").read_bytes(),
    )
    with grpc.secure_channel(mtls.endpoint, creds) as channel, pytest.raises(grpc.RpcError) as err:
        rpc_pb2_grpc.KVStub(channel).Range(rpc_pb2.RangeRequest(key=b"k"), timeout=3)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_server_of_another_ca_is_not_trusted(mtls: TLSServer, other_ca: Certs) -> None:
    ctl = Ctl(mtls.url, certs=other_ca)
    result = ctl.run("--dial-timeout=1s", "--command-timeout=2s", "get", "tls-key")
    assert result.returncode != 0


def test_without_client_cert_auth_clients_only_trust_the_server(
    tmp_path: Path, certs: Certs
) -> None:
    with tls_member(tmp_path, certs, client_cert_auth=False) as server:
        ctl = Ctl(server.url, certs=certs, client=None)
        ctl.ok("put", "k", "v")
        assert ctl.ok("get", "k", "--print-value-only").strip() == "v"


def test_certificate_cn_authenticates_as_that_user(tmp_path: Path, certs: Certs) -> None:
    with tls_member(tmp_path, certs) as server:
        root = Ctl(server.url, certs=certs)  # client.crt: CN root
        setup_reader(Ctl(server.url, certs=certs, user="root:rootpw"))
        root.ok("put", "/a/x", "1")
        root.ok("put", "/b/x", "2")
        alice = Ctl(server.url, certs=certs, client="alice")  # CN alice, no password
        assert alice.ok("get", "/a/x", "--print-value-only").strip() == "1"
        assert alice.error("get", "/b/x") == "Error: etcdserver: permission denied"
        assert alice.error("put", "/a/x", "2") == "Error: etcdserver: permission denied"
        # a token wins over the certificate, as in etcd
        as_root = Ctl(server.url, certs=certs, client="alice", user="root:rootpw")
        assert as_root.ok("get", "/b/x", "--print-value-only").strip() == "2"


def test_kvctl_takes_etcdctl_tls_and_user_flags(tmp_path: Path, certs: Certs) -> None:
    with tls_member(tmp_path, certs) as server:
        setup_reader(Ctl(server.url, certs=certs, user="root:rootpw"))
        base = [
            sys.executable,
            "-m",
            "kvstore.cli",
            "--endpoints",
            server.url,
            "--cacert",
            certs.path("ca.crt"),
            "--cert",
            certs.path("alice.crt"),
            "--key",
            certs.path("alice.key"),
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

        def kvctl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*base, *args], capture_output=True, text=True, timeout=60, env=env, check=False
            )

        put = kvctl("--user", "root:rootpw", "put", "/a/k", "v")
        assert put.returncode == 0, put.stderr
        got = kvctl("--user", "alice:alicepw", "get", "/a/k")
        assert got.returncode == 0, got.stderr
        assert "v" in got.stdout
        denied = kvctl("--user", "alice:alicepw", "put", "/a/k", "w")
        assert denied.returncode == 1
        assert "etcdserver: permission denied" in denied.stderr


def test_kvctl_make_mirror_to_a_destination_with_tls_and_auth(tmp_path: Path, certs: Certs) -> None:
    (tmp_path / "plain").mkdir()
    with (
        tls_member(tmp_path, certs) as dest,
        running(kvstore_process(tmp_path / "plain")) as source,
    ):
        root = Ctl(dest.url, certs=certs, user="root:rootpw")
        setup_reader(root)
        ok(invoke(source.endpoint, "put", "/a/k", "v"))
        tls = ["--dest-cacert", certs.path("ca.crt"), "--dest-cert", certs.path("alice.crt")]
        tls += ["--dest-key", certs.path("alice.key")]
        denied = kvctl_process(
            source.endpoint, "make-mirror", *tls, "--dest-user", "alice:alicepw", dest.url
        )
        try:
            _, err = denied.communicate(timeout=30)
        finally:
            reap(denied)
        assert denied.returncode == 1 and err == "Error: etcdserver: permission denied\n"
        mirror = kvctl_process(
            source.endpoint,
            "make-mirror",
            *tls,
            "--dest-user",
            "root",
            "--dest-password",
            "rootpw",
            dest.url,
        )
        try:
            wait_until(lambda: root.ok("get", "/a/k", "--print-value-only") == "v\n")
        finally:
            reap(mirror)


def test_kvctl_insecure_transport_false_dials_tls_without_a_ca_flag(
    tmp_path: Path, certs: Certs
) -> None:
    """etcdctl's ``--insecure-transport=false``: TLS with the system's CA roots
    (here the test CA, through gRPC's roots file) to an endpoint without https://;
    ``--dest-insecure-transport=false`` likewise for make-mirror's destination."""
    with tls_member(tmp_path, certs, client_cert_auth=False) as server:
        host = server.url.removeprefix("https://")
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": certs.path("ca.crt"),
        }

        def kvctl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "kvstore.cli",
                    "--endpoints",
                    host,
                    "--dial-timeout",
                    "1s",
                    *args,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
                check=False,
            )

        plain = kvctl("put", "/src/k", "v")
        assert plain.returncode == 1 and "Traceback" not in plain.stderr
        assert kvctl("--insecure-transport=false", "put", "/src/k", "v").returncode == 0
        after = kvctl("get", "/src/k", "--print-value-only", "--insecure-transport=false")
        assert (after.returncode, after.stdout) == (0, "v\n"), after.stderr
        bare = kvctl("--insecure-transport", "get", "/src/k")  # =true: no TLS
        assert bare.returncode == 1 and "Traceback" not in bare.stderr
        mirror = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kvstore.cli",
                "--endpoints",
                host,
                "--insecure-transport=false",
                "make-mirror",
                "--prefix",
                "/src/",
                "--dest-prefix",
                "/copy/",
                "--dest-insecure-transport=false",
                host,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            wait_until(
                lambda: (
                    kvctl("--insecure-transport=false", "get", "/copy/k").stdout == "/copy/k\nv\n"
                )
            )
        finally:
            reap(mirror)
