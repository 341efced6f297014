"""A single-member proposer: the same propose → apply(index, command) path,
without replication. Commands queue up; the apply thread takes everything
queued as one batch, applies it in one LMDB transaction (one fsync), then the
effects go to the watch hub and lessor and the callers get their results.

Proposals carry no request id: nothing retries them, so the state machine has
nothing to de-duplicate (and ids restarting at 1 after a restart would collide
with the ones it remembers). Every proposal waits the same request timeout, so
deadlines expire in proposal order: one timer walks a FIFO of them instead of a
``wait_for`` (a timer, a waiter and a shield) per request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from google.protobuf.message import Message

from kvstore.errors import KvError, NoSpaceError, RequestTimeoutError, StoppedError
from kvstore.pb import command_pb2
from kvstore.raft.fsm import Duplicate, Entry, StateMachine
from kvstore.raft.proposer import (
    Answer,
    EffectsListener,
    ProposerMetrics,
    Question,
    QuestionHandler,
    RaftStatus,
    notify,
)

logger = logging.getLogger(__name__)

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
        answer: QuestionHandler,
    ) -> None:
        self._fsm = fsm
        self._member_id = member_id
        self._listeners = listeners
        self._answer = answer
        self._timeout = request_timeout
        self._on_fatal = on_fatal
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future[Message | None]]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apply")
        self._task: asyncio.Task[None] | None = None
        #: (deadline, future) of proposals in proposal order; see ``_expire``
        self._deadlines: collections.deque[tuple[float, asyncio.Future[Message | None]]] = (
            collections.deque()
        )
        self._timer: asyncio.TimerHandle | None = None
        self._applied = 0
        self._stopped = False
        #: proposals that timed out (for /metrics)
        self._failed = 0

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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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
        cmd.member_id = self._member_id
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Message | None] = loop.create_future()
        self._queue.put_nowait((cmd.SerializeToString(), fut))
        self._deadlines.append((loop.time() + self._timeout, fut))
        if self._timer is None:
            self._timer = loop.call_at(self._deadlines[0][0], self._expire)
        # A cancelled caller cancels ``fut``; the command is applied all the same.
        return await fut

    def _expire(self) -> None:
        """Fail proposals whose deadline passed; re-arm for the oldest one left."""
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadlines = self._deadlines
        while deadlines and (deadlines[0][1].done() or deadlines[0][0] <= now):
            _, fut = deadlines.popleft()
            if not fut.done():
                self._failed += 1
                fut.set_exception(RequestTimeoutError())
        if deadlines and not self._stopped:
            self._timer = loop.call_at(deadlines[0][0], self._expire)

    async def read_barrier(self) -> None:
        # Every acknowledged write is applied before its caller hears OK, and
        # there is no other member that could have committed more.
        return None

    async def settled(self) -> None:
        # Here a write is answered only once its batch is committed and synced
        # (the store is this member's only durable record of it).
        return None

    async def ask_leader(self, question: Question) -> Answer:
        # This member leads, and its callers hear of a command only once its
        # effects reached every listener.
        if self._stopped:
            raise StoppedError()
        return self._answer(question)

    def is_leader(self) -> bool:
        return not self._stopped

    def status(self) -> RaftStatus:
        return RaftStatus(self._member_id, TERM, self._applied, self._applied)

    def metrics(self) -> ProposerMetrics:
        return ProposerMetrics(
            leader_changes=1,  # this member, from its start
            proposals_pending=sum(not fut.done() for _, fut in self._deadlines),
            proposals_failed=self._failed,
            wal_fsync=None,
        )

    def term(self) -> int:
        return TERM

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
            notify(self._listeners, effects)
            for (_, fut), applied in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(applied.result, Duplicate):
                    continue
                if isinstance(applied.result, KvError):
                    fut.set_exception(applied.result)
                else:
                    fut.set_result(applied.result)
            deadlines = self._deadlines
            while deadlines and deadlines[0][1].done():
                deadlines.popleft()
