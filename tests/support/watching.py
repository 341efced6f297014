"""A synchronous driver for one bidirectional Watch stream.

Requests are fed through a queue; a reader thread moves every response (or
the stream's final error) into another queue, so a test can wait for a
response with a deadline instead of blocking forever.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc

_CLOSE = object()


class WatchStream:
    """One Watch RPC: ``send`` requests, ``next`` responses (with a deadline)."""

    def __init__(self, stub: rpc_pb2_grpc.WatchStub) -> None:
        self._requests: queue.Queue[object] = queue.Queue()
        self._responses: queue.Queue[rpc_pb2.WatchResponse | BaseException] = queue.Queue()
        # responses read past while waiting for a create's answer, in order
        self._pending: collections.deque[rpc_pb2.WatchResponse] = collections.deque()
        self._call = stub.Watch(self._request_iter())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _request_iter(self) -> Iterator[rpc_pb2.WatchRequest]:
        while True:
            item = self._requests.get()
            if item is _CLOSE:
                return
            assert isinstance(item, rpc_pb2.WatchRequest)
            yield item

    def _read(self) -> None:
        try:
            for response in self._call:
                self._responses.put(response)
        except grpc.RpcError as exc:
            self._responses.put(exc)

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.close_sending()
        self._call.cancel()
        self._reader.join(timeout=10)

    def close_sending(self) -> None:
        """End the request side of the stream (the client half-closes)."""
        self._requests.put(_CLOSE)

    def send(self, request: rpc_pb2.WatchRequest) -> None:
        self._requests.put(request)

    def next(self, timeout: float = 10.0) -> rpc_pb2.WatchResponse:
        """The next response; TimeoutError if none arrives within ``timeout``."""
        if self._pending:
            return self._pending.popleft()
        return self._receive(timeout)

    def _receive(self, timeout: float) -> rpc_pb2.WatchResponse:
        try:
            item = self._responses.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no watch response within {timeout}s") from None
        if isinstance(item, BaseException):
            raise item
        return item

    def create(self, **fields: object) -> rpc_pb2.WatchResponse:
        """Send a create request; return the server's answer to it.

        Event responses of other watchers that arrive first are kept for ``next``.
        """
        self.send(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(**fields)))  # type: ignore[arg-type]
        deadline = time.monotonic() + 10.0
        while True:
            response = self._receive(max(deadline - time.monotonic(), 0.001))
            if response.created:
                return response
            assert response.events or response.canceled, f"unexpected response {response}"
            self._pending.append(response)

    def cancel(self, watch_id: int) -> None:
        self.send(
            rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=watch_id))
        )

    def request_progress(self) -> None:
        self.send(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))

    def next_matching(
        self, predicate: Callable[[rpc_pb2.WatchResponse], bool], timeout: float = 10.0
    ) -> rpc_pb2.WatchResponse:
        """Skip responses until one satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching watch response within {timeout}s")
            response = self.next(timeout=remaining)
            if predicate(response):
                return response

    def next_for(self, watch_id: int, timeout: float = 10.0) -> rpc_pb2.WatchResponse:
        """The next response addressed to ``watch_id``; others are dropped."""
        return self.next_matching(lambda r: r.watch_id == watch_id, timeout)

    def events_for(
        self, watch_id: int, count: int, timeout: float = 10.0
    ) -> list[rpc_pb2.WatchResponse]:
        """Responses for ``watch_id`` until they hold ``count`` events in total."""
        responses: list[rpc_pb2.WatchResponse] = []
        deadline = time.monotonic() + timeout
        while sum(len(r.events) for r in responses) < count:
            response = self.next_for(watch_id, timeout=max(deadline - time.monotonic(), 0.001))
            if response.events:
                responses.append(response)
        return responses
