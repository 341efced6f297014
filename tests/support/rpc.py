"""gRPC plumbing for tests: channels whose calls cannot hang, and error assertions.

A server under development can fail by never answering; every call made
through :func:`open_channel` therefore carries a deadline unless the caller
gives one.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc

UNARY_TIMEOUT = 10.0
STREAM_TIMEOUT = 60.0


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):  # type: ignore[misc]
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


def _with_timeout(details: grpc.ClientCallDetails, default: float) -> grpc.ClientCallDetails:
    if details.timeout is not None:
        return details
    return _CallDetails(
        details.method,
        default,
        details.metadata,
        details.credentials,
        getattr(details, "wait_for_ready", None),
        getattr(details, "compression", None),
    )


class _DefaultTimeout(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Gives every call without a deadline a default one."""

    def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return continuation(_with_timeout(client_call_details, UNARY_TIMEOUT), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return continuation(_with_timeout(client_call_details, STREAM_TIMEOUT), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(_with_timeout(client_call_details, UNARY_TIMEOUT), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[no-untyped-def]
        return continuation(_with_timeout(client_call_details, STREAM_TIMEOUT), request_iterator)


@contextlib.contextmanager
def open_channel(endpoint: str) -> Iterator[grpc.Channel]:
    """An insecure channel to ``endpoint`` with default deadlines; closed on exit."""
    raw = grpc.insecure_channel(endpoint)
    try:
        yield grpc.intercept_channel(raw, _DefaultTimeout())
    finally:
        raw.close()


@contextlib.contextmanager
def rpc_error(code: grpc.StatusCode, message: str | re.Pattern[str]) -> Iterator[None]:
    """Assert the block raises an RPC error with exactly ``code`` and ``message``.

    ``message`` is compared for equality, or matched with ``fullmatch`` when it
    is a compiled pattern.
    """
    try:
        yield
    except grpc.RpcError as exc:
        got_code, got_details = exc.code(), exc.details()  # type: ignore[attr-defined]
        assert got_code == code, f"expected {code}, got {got_code}: {got_details!r}"
        if isinstance(message, re.Pattern):
            assert message.fullmatch(got_details or ""), got_details
        else:
            assert got_details == message
    else:
        raise AssertionError(f"expected an RPC error {code} {message!r}, the call succeeded")
