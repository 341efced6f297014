"""Endpoints, channels and failover: every unary call goes through :meth:`Connection.call`.

Retry policy (the contract the rest of the client relies on):

* A call that changes nothing (Range, Status, LeaseTimeToLive, ...) is retried on the
  next endpoint whenever the member answers UNAVAILABLE or cannot be reached, until
  the request timeout runs out.
* A call that may change the store (Put, DeleteRange, Txn, Compact, LeaseGrant, ...)
  is retried only when the request provably never left this process (no connection
  could be made). Anything else — deadline exceeded, connection lost mid-call,
  "etcdserver: request timed out" — raises :class:`OutcomeUnknownError`.
* An expired auth token (or a JWT older than the auth store) is refreshed once with the
  configured username/password.
* Credentials given while the server has auth disabled are not an error (as in
  etcd's clientv3): calls go without a token until auth is enabled.

One gRPC channel is kept per endpoint; ``current`` is the endpoint that last worked,
and every call starts there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import grpc  # type: ignore[import-untyped, unused-ignore]
import grpc.aio  # type: ignore[import-untyped, unused-ignore]

from kvstore.client._errors import (
    AuthNotEnabledError,
    AuthOldRevisionError,
    ClientError,
    ConnectionFailedError,
    InvalidAuthTokenError,
    RequestTimeoutError,
    translate,
    was_not_sent,
)
from kvstore.pb import rpc_pb2, rpc_pb2_grpc

logger = logging.getLogger(__name__)

Req = TypeVar("Req", contravariant=True)
Resp = TypeVar("Resp", covariant=True)


class UnaryMethod(Protocol[Req, Resp]):
    """The shape of a unary grpc.aio method (``stub.Range`` and the like)."""

    def __call__(
        self,
        request: Req,
        *,
        timeout: float | None = ...,
        metadata: tuple[tuple[str, str], ...] = ...,
    ) -> Awaitable[Resp]: ...


_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything a :class:`Client` needs; built once and never changed."""

    endpoints: tuple[str, ...]
    """host:port, http://host:port or https://host:port (https implies TLS)."""
    dial_timeout: float = 5.0
    """Seconds to wait for a connection to one endpoint before trying the next."""
    request_timeout: float = 10.0
    """Total seconds for one unary request, retries and failover included."""
    ca_cert: bytes | None = None
    """PEM root certificates; set (or an https endpoint) to use TLS."""
    cert: bytes | None = None
    """PEM client certificate chain, for mutual TLS."""
    key: bytes | None = None
    """PEM private key of ``cert``."""
    username: str | None = None
    password: str | None = None
    token: str | None = None
    """A ready auth token, sent as the "token" metadata."""
    keepalive_time: float = 10.0
    """Seconds between HTTP/2 pings on an active connection (detects dead peers)."""


def _read_pem(material: bytes | str | Path | None) -> bytes | None:
    """PEM bytes as given, or read from a path."""
    if material is None or isinstance(material, bytes):
        return material
    return Path(material).read_bytes()


def make_config(
    endpoints: list[str] | tuple[str, ...] | str,
    *,
    dial_timeout: float = 5.0,
    request_timeout: float = 10.0,
    ca_cert: bytes | str | Path | None = None,
    cert: bytes | str | Path | None = None,
    key: bytes | str | Path | None = None,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
) -> ClientConfig:
    eps = (endpoints,) if isinstance(endpoints, str) else tuple(endpoints)
    if not eps:
        raise ValueError("at least one endpoint is required")
    if (username is None) != (password is None):
        raise ValueError("username and password go together")
    return ClientConfig(
        endpoints=eps,
        dial_timeout=dial_timeout,
        request_timeout=request_timeout,
        ca_cert=_read_pem(ca_cert),
        cert=_read_pem(cert),
        key=_read_pem(key),
        username=username,
        password=password,
        token=token,
    )


class Stubs:
    """The six etcd services on one channel."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.kv = rpc_pb2_grpc.KVStub(channel)
        self.watch = rpc_pb2_grpc.WatchStub(channel)
        self.lease = rpc_pb2_grpc.LeaseStub(channel)
        self.cluster = rpc_pb2_grpc.ClusterStub(channel)
        self.maintenance = rpc_pb2_grpc.MaintenanceStub(channel)
        self.auth = rpc_pb2_grpc.AuthStub(channel)


class Connection:
    """Owns one channel per endpoint and picks a healthy one for each call."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._targets = [self._parse(ep) for ep in config.endpoints]
        self._stubs: dict[int, Stubs] = {}
        self._current = 0
        self._token = config.token
        self._auth_lock = asyncio.Lock()

    @staticmethod
    def _parse(endpoint: str) -> tuple[str, bool]:
        if endpoint.startswith("https://"):
            return endpoint.removeprefix("https://").rstrip("/"), True
        return endpoint.removeprefix("http://").rstrip("/"), False

    @property
    def current_endpoint(self) -> str:
        return self._targets[self._current][0]

    def _channel_options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.keepalive_time_ms", int(self.config.keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", 5000),
            ("grpc.keepalive_permit_without_calls", 0),
            ("grpc.max_receive_message_length", 512 * _MIB),
            ("grpc.max_send_message_length", 16 * _MIB),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]

    def stubs(self, index: int) -> Stubs:
        stubs = self._stubs.get(index)
        if stubs is None:
            target, https = self._targets[index]
            cfg = self.config
            if https or cfg.ca_cert is not None or cfg.cert is not None:
                creds = grpc.ssl_channel_credentials(
                    root_certificates=cfg.ca_cert,
                    private_key=cfg.key,
                    certificate_chain=cfg.cert,
                )
                channel = grpc.aio.secure_channel(target, creds, options=self._channel_options())
            else:
                channel = grpc.aio.insecure_channel(target, options=self._channel_options())
            stubs = self._stubs[index] = Stubs(channel)
        return stubs

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("token", self._token),) if self._token else ()

    async def open(self) -> None:
        """Authenticate when a username and password were given."""
        if self.config.username is not None:
            await self._authenticate()

    async def aclose(self) -> None:
        stubs, self._stubs = list(self._stubs.values()), {}
        for s in stubs:
            await s.channel.close()

    async def _authenticate(self) -> None:
        cfg = self.config
        assert cfg.username is not None and cfg.password is not None
        request = rpc_pb2.AuthenticateRequest(name=cfg.username, password=cfg.password)
        self._token = None
        try:
            response = await self.call(lambda s: s.auth.Authenticate, request, mutation=False)
        except AuthNotEnabledError:
            logger.debug("auth is not enabled; calls go without a token user=%s", cfg.username)
            return
        self._token = response.token

    async def _connected(self, index: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until endpoint ``index`` is READY; False on failure or timeout."""
        channel = self.stubs(index).channel
        deadline = time.monotonic() + timeout
        state = channel.get_state(try_to_connect=True)
        seen_connecting = False
        while state != grpc.ChannelConnectivity.READY:
            if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE and seen_connecting:
                return False
            if state == grpc.ChannelConnectivity.SHUTDOWN:
                return False
            if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                # A failure left from earlier: give the reconnect one chance.
                seen_connecting = True
            if state == grpc.ChannelConnectivity.CONNECTING:
                seen_connecting = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), remaining)
            except TimeoutError:
                return False
            state = channel.get_state(try_to_connect=True)
        return True

    async def connect_any(self, avoid: int | None = None) -> tuple[int, Stubs]:
        """A connected endpoint, starting at the current one (or the one after ``avoid``).

        Raises :class:`ConnectionFailedError` after one round over all endpoints.
        """
        n = len(self._targets)
        start = self._current
        if avoid is not None and avoid == self._current and n > 1:
            start = (avoid + 1) % n
        for step in range(n):
            index = (start + step) % n
            if await self._connected(index, self.config.dial_timeout):
                self._current = index
                return index, self.stubs(index)
            logger.info("endpoint unreachable endpoint=%s", self._targets[index][0])
        raise ConnectionFailedError(f"no endpoint reachable among {list(self.config.endpoints)}")

    async def call(
        self,
        pick: Callable[[Stubs], UnaryMethod[Req, Resp]],
        request: Req,
        *,
        mutation: bool,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request budget, not a cancel scope
    ) -> Resp:
        """Send one unary request under the retry policy in the module docstring."""
        budget = self.config.request_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        n = len(self._targets)
        index = self._current
        last: ClientError | None = None
        reauthenticated = False
        failures_in_round = 0
        backoff = 0.05
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if failures_in_round >= n:
                failures_in_round = 0
                await asyncio.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
                backoff = min(backoff * 2, 1.0)
                continue
            if not await self._connected(index, min(self.config.dial_timeout, remaining)):
                last = ConnectionFailedError(f"cannot connect to {self._targets[index][0]}")
                index = (index + 1) % n
                failures_in_round += 1
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                response = await pick(self.stubs(index))(
                    request, timeout=remaining, metadata=self.metadata()
                )
            except grpc.aio.AioRpcError as exc:
                error = translate(exc, mutation=mutation)
                if (
                    isinstance(error, (InvalidAuthTokenError, AuthOldRevisionError))
                    and self.config.username is not None
                    and not reauthenticated
                ):
                    reauthenticated = True
                    async with self._auth_lock:
                        await self._authenticate()
                    continue
                if was_not_sent(exc) or (
                    not mutation and exc.code() == grpc.StatusCode.UNAVAILABLE
                ):
                    logger.info(
                        "failing over endpoint=%s code=%s details=%s",
                        self._targets[index][0],
                        exc.code().name,
                        exc.details(),
                    )
                    last = error
                    index = (index + 1) % n
                    failures_in_round += 1
                    continue
                raise error from exc
            self._current = index
            return response
        if mutation or isinstance(last, ConnectionFailedError):
            # Nothing was sent (any sent mutation raised above).
            raise last or ConnectionFailedError("request timeout before any attempt")
        raise RequestTimeoutError(
            f"no endpoint answered within {budget}s (last error: {last})"
        ) from last
