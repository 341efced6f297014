"""A single-member proposer: the same propose → apply(index, command) path,
without replication. Commands queue up; the apply thread takes everything
queued as one batch, applies it in one LMDB transaction (one fsync), then the
effects go to the watch hub and lessor and the callers get their results.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from google.protobuf.message import Message

from kvstore.errors import KvError, NoSpaceError, RequestTimeoutError, StoppedError
from kvstore.pb import command_pb2
from kvstore.raft.fsm import Duplicate, Entry, StateMachine
from kvstore.raft.proposer import RaftStatus
from kvstore.storage.effects import Effects

logger = logging.getLogger(__name__)

EffectsListener = Callable[[Effects], None]
MAX_BATCH = 1024
TERM = 1


class LocalProposer:
    def __init__(
        self,
        fsm: StateMachine,
        member_id: int,
        listeners: list[EffectsListener],
        request_timeout: float,
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        self._fsm = fsm
        self._member_id = member_id
        self._listeners = listeners
        self._timeout = request_timeout
        self._on_fatal = on_fatal
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future[Message | None]]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apply")
        self._task: asyncio.Task[None] | None = None
        self._request_ids = itertools.count(1)
        self._applied = 0
        self._stopped = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._applied = await loop.run_in_executor(self._executor, self._fsm.applied_index)
        if self._applied == 0:
            # Like Raft's first entry: a fresh member starts at index 1.
            boot = command_pb2.Command(barrier=command_pb2.Barrier()).SerializeToString()
            await loop.run_in_executor(
                self._executor, self._fsm.apply_batch, [Entry(1, TERM, boot)]
            )
            self._applied = 1
        self._task = loop.create_task(self._run(), name="local-proposer")

    async def aclose(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(StoppedError())
        self._executor.shutdown(wait=True)

    async def propose(self, cmd: command_pb2.Command) -> Message | None:
        if self._stopped:
            raise StoppedError()
        cmd.request_id = next(self._request_ids)
        cmd.member_id = self._member_id
        fut: asyncio.Future[Message | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((cmd.SerializeToString(), fut))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self._timeout)
        except TimeoutError as exc:
            raise RequestTimeoutError() from exc

    async def read_barrier(self) -> None:
        # Every acknowledged write is applied before its caller hears OK, and
        # there is no other member that could have committed more.
        return None

    def is_leader(self) -> bool:
        return not self._stopped

    def status(self) -> RaftStatus:
        return RaftStatus(self._member_id, TERM, self._applied, self._applied)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            entries = [
                Entry(self._applied + i + 1, TERM, data) for i, (data, _) in enumerate(batch)
            ]
            try:
                results, effects = await loop.run_in_executor(
                    self._executor, self._fsm.apply_batch, entries
                )
            except NoSpaceError as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            except Exception as exc:
                logger.critical("apply failed; stopping member error=%r", exc)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(StoppedError())
                self._stopped = True
                self._on_fatal(exc)
                return
            self._applied = entries[-1].index
            for listener in self._listeners:
                try:
                    listener(effects)
                except Exception:
                    logger.exception("effects listener failed")
            for (_, fut), applied in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(applied.result, Duplicate):
                    continue
                if isinstance(applied.result, KvError):
                    fut.set_exception(applied.result)
                else:
                    fut.set_result(applied.result)
