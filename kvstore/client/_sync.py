"""A blocking facade over :class:`Client`, for scripts and the CLI.

It runs on an event loop in a daemon thread, shared by every SyncClient of the
process (see ``_shared_loop``); each call is submitted
there with ``asyncio.run_coroutine_threadsafe`` and waited for. Nothing is
duplicated: any coroutine method of :class:`Client` is available under the same name
and arguments (``sync.put(b"k", b"v")``); async generators (``pages``) become
blocking iterators; ``watch`` gives a blocking iterator of events and ``txn`` a
builder whose ``commit()`` blocks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Self, TypeVar

from kvstore.client._client import Client
from kvstore.client._txn import Txn
from kvstore.client._types import Event, TxnResult, WatchResponse
from kvstore.client._watch import Watch

T = TypeVar("T")


class SyncWatch:
    """A watch as a blocking context manager and iterator of events."""

    def __init__(self, runner: SyncClient, watch: Watch) -> None:
        self._runner = runner
        self._watch = watch
        self._responses: AsyncIterator[WatchResponse] | None = None

    @property
    def revision(self) -> int:
        return self._watch.revision

    def __enter__(self) -> Self:
        self._runner.run(self._watch.__aenter__())
        self._responses = self._watch.responses()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._runner.run(self._watch.aclose())

    def responses(self, timeout: float | None = None) -> Iterator[WatchResponse]:
        """Blocking iterator of responses; ``timeout`` bounds each wait (TimeoutError)."""
        assert self._responses is not None, "use `with sync.watch(...) as w`"
        responses = self._responses
        while True:
            try:
                yield self._runner.run(_next(responses), timeout)
            except StopAsyncIteration:
                return

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        for response in self.responses(timeout):
            yield from response.events

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def request_progress(self) -> None:
        self._runner.run(self._watch.request_progress())


async def _next(iterator: AsyncIterator[T]) -> T:
    return await anext(iterator)


_loop_lock = threading.Lock()
_loop_holder: list[asyncio.AbstractEventLoop] = []


def _shared_loop() -> asyncio.AbstractEventLoop:
    """The one event loop (in a daemon thread) that every SyncClient of this
    process runs on. grpc.aio binds its completion queue to the first loop it
    sees; closing that loop and starting another one makes later calls log
    "Event loop is closed" errors, so the loop is created once and never closed."""
    with _loop_lock:
        if not _loop_holder:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="kvstore-sync", daemon=True)
            thread.start()
            _loop_holder.append(loop)
        return _loop_holder[0]


class SyncClient:
    """``with SyncClient(["127.0.0.1:2379"]) as c: c.put(b"k", b"v")``.

    Takes the same arguments as :class:`Client`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = _shared_loop()
        self.client: Client = self.run(_open(args, kwargs))

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the client's loop; its future (``run`` waits for it)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` on the client's loop, from any thread."""
        self._loop.call_soon_threadsafe(callback)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the client's loop and wait for its result."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self.client, name)
        if inspect.iscoroutinefunction(attr):

            @functools.wraps(attr)
            def call(*args: Any, **kwargs: Any) -> Any:
                return self.run(attr(*args, **kwargs))

            return call
        if inspect.isasyncgenfunction(attr):

            @functools.wraps(attr)
            def iterate(*args: Any, **kwargs: Any) -> Iterator[Any]:
                agen = attr(*args, **kwargs)
                while True:
                    try:
                        yield self.run(_next(agen))
                    except StopAsyncIteration:
                        return

            return iterate
        raise AttributeError(f"{name!r} has no blocking form")

    def txn(self) -> Txn[TxnResult]:
        client = self.client
        return Txn(lambda request: self.run(client._commit(request)))

    def watch(self, *args: Any, **kwargs: Any) -> SyncWatch:
        """Same arguments as :meth:`Client.watch`; use as ``with sync.watch(k) as w``."""
        return SyncWatch(self, self.client.watch(*args, **kwargs))

    def close(self) -> None:
        if self._loop.is_running():
            self.run(self.client.aclose())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _open(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Client:
    return await Client(*args, **kwargs).open()
