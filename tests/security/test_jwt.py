"""--auth-token jwt, against real etcd 3.4 and kvstore with the same key files.

Tokens are RS256 JWTs with etcd's claims (username, revision, exp), checked with
the public key; a forged or expired token is an invalid auth token, and a token
older than the auth store's last change is refused with "revision of auth store
is old" (clients then log in again).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import jwt
import pytest

from kvstore.client import Client
from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.conftest import process_for
from tests.security.support import Ctl, setup_reader, write_rsa_pair
from tests.support.kvcluster import kv_cluster
from tests.support.procs import ServerProcess, running

TTL = 300


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "jwt.key", tmp_path / "jwt.pub"
    write_rsa_pair(private, public)
    return private, public


@pytest.fixture
def server(backend: str, tmp_path: Path, keys: tuple[Path, Path]) -> Iterator[ServerProcess]:
    private, public = keys
    proc = process_for(backend, tmp_path)
    proc.argv.extend(
        [
            "--auth-token",
            f"jwt,pub-key={public},priv-key={private},sign-method=RS256,ttl={TTL // 60}m",
        ]
    )
    with running(proc) as started:
        setup_reader(Ctl(started.url))
        Ctl(started.url, user="root:rootpw").ok("put", "/a/x", "1")
        yield started


def _login(channel: grpc.Channel, name: str, password: str) -> str:
    request = rpc_pb2.AuthenticateRequest(name=name, password=password)
    token: str = rpc_pb2_grpc.AuthStub(channel).Authenticate(request).token
    return token


def _get(channel: grpc.Channel, token: str) -> bytes:
    resp = rpc_pb2_grpc.KVStub(channel).Range(
        rpc_pb2.RangeRequest(key=b"/a/x"), metadata=[("token", token)]
    )
    return bytes(resp.kvs[0].value)


def _refused(channel: grpc.Channel, token: str) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        _get(channel, token)
    return info.value.code(), info.value.details()


def test_tokens_are_signed_jwts_with_etcds_claims(
    server: ServerProcess, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    with grpc.insecure_channel(server.endpoint) as channel:
        token = _login(channel, "alice", "alicepw")
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        claims = jwt.decode(token, public.read_bytes(), algorithms=["RS256"])
        assert set(claims) == {"username", "revision", "exp"}
        assert claims["username"] == "alice"
        assert isinstance(claims["revision"], int) and claims["revision"] > 0
        assert abs(claims["exp"] - (time.time() + TTL)) < 30
        assert _get(channel, token) == b"1"

        invalid = (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token")
        other_private, _ = tmp_path / "other.key", tmp_path / "other.pub"
        write_rsa_pair(other_private, tmp_path / "other.pub")
        forged = jwt.encode(claims, other_private.read_bytes(), algorithm="RS256")
        assert _refused(channel, forged) == invalid
        expired = jwt.encode(
            {**claims, "exp": int(time.time()) - 5}, private.read_bytes(), algorithm="RS256"
        )
        assert _refused(channel, expired) == invalid
        assert _refused(channel, token[:-6] + "AAAAAA") == invalid


def test_a_token_older_than_the_auth_store_is_refused(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.endpoint) as channel:
        token = _login(channel, "alice", "alicepw")
        assert _get(channel, token) == b"1"
        Ctl(server.url, user="root:rootpw").ok("role", "add", "auditor")
        assert _refused(channel, token) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "etcdserver: revision of auth store is old",
        )
        assert _get(channel, _login(channel, "alice", "alicepw")) == b"1"
    # etcdctl logs in for each command: unaffected
    alice = Ctl(server.url, user="alice:alicepw")
    assert alice.ok("get", "/a/x", "--print-value-only") == "1\n"
    assert alice.error("get", "/b/x") == "Error: etcdserver: permission denied"


async def test_the_client_logs_in_again_when_its_token_is_old(server: ServerProcess) -> None:
    async with Client([server.endpoint], username="alice", password="alicepw") as alice:
        assert (await alice.get(b"/a/x")).value == b"1"
        async with Client([server.endpoint], username="root", password="rootpw") as root:
            await root.role_add("auditor")
        assert (await alice.get(b"/a/x")).value == b"1"


def test_a_token_from_one_member_works_on_the_others(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    """Nothing about a JWT is replicated: every member checks it with the public key."""
    private, public = keys
    flag = f"jwt,pub-key={public},priv-key={private},sign-method=RS256"
    with kv_cluster(tmp_path, extra=["--auth-token", flag]) as cluster:
        first = cluster.members[0]
        setup_reader(Ctl(first.server.url))
        Ctl(first.server.url, user="root:rootpw").ok("put", "/a/x", "1")
        with grpc.insecure_channel(first.endpoint) as channel:
            token = _login(channel, "alice", "alicepw")
        for member in cluster.members:
            with grpc.insecure_channel(member.endpoint) as channel:
                assert _get(channel, token) == b"1", member.name


def test_hmac_tokens_use_the_priv_key_file_as_the_shared_secret(
    backend: str, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"a shared secret of this cluster, 0123456789")
    proc = process_for(backend, tmp_path)
    proc.argv.extend(["--auth-token", f"jwt,priv-key={secret},sign-method=HS256"])
    with running(proc) as server, grpc.insecure_channel(server.endpoint) as channel:
        setup_reader(Ctl(server.url))
        Ctl(server.url, user="root:rootpw").ok("put", "/a/x", "1")
        token = _login(channel, "alice", "alicepw")
        assert jwt.get_unverified_header(token)["alg"] == "HS256"
        claims = jwt.decode(token, secret.read_bytes(), algorithms=["HS256"])
        assert claims["username"] == "alice"
        assert _get(channel, token) == b"1"
        forged = jwt.encode(claims, b"another secret, 0123456789abcdef", algorithm="HS256")
        assert _refused(channel, forged) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "etcdserver: invalid auth token",
        )
