"""The one place where kvstore errors become gRPC statuses, and headers are made."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import grpc

from kvstore.errors import KvError
from kvstore.pb import rpc_pb2

logger = logging.getLogger(__name__)

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]
Req = TypeVar("Req")
Resp = TypeVar("Resp")
Self = TypeVar("Self")
Handler = Callable[[Self, Req, Ctx], Awaitable[Resp]]


def status_code(err: KvError) -> grpc.StatusCode:
    return grpc.StatusCode[err.code]


async def abort(context: Ctx, err: KvError) -> None:
    await context.abort(status_code(err), err.message)


def go_status_text(err: KvError) -> str:
    """How grpc-go prints a status: what etcd puts in some reasons (watch cancel)."""
    go_code = "".join(part.capitalize() for part in err.code.split("_"))
    return f"rpc error: code = {go_code} desc = {err.message}"


def unary(fn: Handler[Self, Req, Resp]) -> Handler[Self, Req, Resp]:
    """Map a ``KvError`` raised by a unary handler to etcd's status and message."""

    @functools.wraps(fn)
    async def wrapper(self: Self, request: Req, context: Ctx) -> Resp:
        try:
            return await fn(self, request, context)
        except KvError as err:
            await abort(context, err)
            raise AssertionError("unreachable: abort raises") from err

    return wrapper


@dataclass
class Identity:
    """Who answers: stamped on every response header. A member joining a
    running cluster learns the cluster ID from the log (``KvServer``)."""

    cluster_id: int
    member_id: int

    def header(self, revision: int, term: int = 1) -> rpc_pb2.ResponseHeader:
        return rpc_pb2.ResponseHeader(
            cluster_id=self.cluster_id,
            member_id=self.member_id,
            revision=revision,
            raft_term=term,
        )

    def stamp(self, header: rpc_pb2.ResponseHeader, term: int = 1) -> None:
        """Fill identity fields into a header whose revision is already set."""
        header.cluster_id = self.cluster_id
        header.member_id = self.member_id
        header.raft_term = term
