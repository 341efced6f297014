"""The asyncio client: ``async with Client(["127.0.0.1:2379"]) as c: ...``."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Self

from kvstore.client._auth import AuthMixin
from kvstore.client._connection import ClientConfig, Connection, make_config
from kvstore.client._kv import KVMixin
from kvstore.client._lease import KeepAlive, LeaseMixin
from kvstore.client._maintenance import MaintenanceMixin
from kvstore.client._types import KeyLike, WatchFilter
from kvstore.client._watch import Watch, WatchHub


class Client(KVMixin, LeaseMixin, MaintenanceMixin, AuthMixin):
    """An etcd v3 client for real etcd and for kvstore.

    Owns one gRPC channel per endpoint, one shared Watch stream, and every
    keep-alive it started; ``aclose()`` (or leaving ``async with``) stops them all.
    See :mod:`kvstore.client._connection` for the retry and failover contract.
    """

    def __init__(
        self,
        endpoints: list[str] | tuple[str, ...] | str = ("127.0.0.1:2379",),
        *,
        dial_timeout: float = 5.0,
        request_timeout: float = 10.0,
        ca_cert: bytes | str | Path | None = None,
        cert: bytes | str | Path | None = None,
        key: bytes | str | Path | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        config: ClientConfig | None = None,
    ) -> None:
        self.config = config or make_config(
            endpoints,
            dial_timeout=dial_timeout,
            request_timeout=request_timeout,
            ca_cert=ca_cert,
            cert=cert,
            key=key,
            username=username,
            password=password,
            token=token,
        )
        self._conn = Connection(self.config)
        self._hub = WatchHub(self._conn)
        self._keepalives: weakref.WeakSet[KeepAlive] = weakref.WeakSet()

    @property
    def endpoint(self) -> str:
        """The endpoint currently in use."""
        return self._conn.current_endpoint

    async def open(self) -> Self:
        await self._conn.open()
        return self

    async def aclose(self) -> None:
        for keepalive in list(self._keepalives):
            await keepalive.aclose()
        # Together: the hub's task, cancelled in a read on a Watch stream opened
        # moments before, can wait for a status that grpc.aio delivers only once
        # the channel closes (a watch created and closed at once hung here).
        await asyncio.gather(self._hub.aclose(), self._conn.aclose())

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def watch(
        self,
        key: KeyLike,
        range_end: KeyLike | None = None,
        *,
        prefix: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        filters: Iterable[WatchFilter] = (),
        progress_notify: bool = False,
    ) -> Watch:
        """Watch a key, a range or a prefix: ``async with c.watch(k) as w: async for ev in w``.

        ``start_revision`` 0 means from the next revision. All watches of a client
        share one gRPC stream; see :mod:`kvstore.client._watch`.
        """
        return self._hub.watch(
            key,
            range_end,
            prefix=prefix,
            start_revision=start_revision,
            prev_kv=prev_kv,
            filters=filters,
            progress_notify=progress_notify,
        )
