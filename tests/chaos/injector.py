"""Faults against a live :class:`~tests.support.kvcluster.Cluster`, from a seeded schedule.

``schedule(seed)`` is an endless, deterministic sequence of :class:`Fault`: first
every kind once in a seeded order, then kinds drawn at random. A failing run is
replayed by passing the same seed (which member is "the leader" is decided at run
time, the fault sequence and its parameters are not).

Kinds:

* ``kill-leader`` / ``kill-follower`` — kill -9, stay down, restart on the same data.
* ``pause-leader`` / ``pause-follower`` — SIGSTOP for a while, then SIGCONT.
* ``isolate-leader`` — cut every peer link of the leader.
* ``split`` — cut every link of a seeded-random member (1 | 2).
* ``bridge`` — cut the link between two members; the third still sees both.
* ``slow`` — add latency to every peer link.
* ``member-replace`` — kill a follower, MemberRemove, wipe its data, MemberAdd, start
  it with ``state=existing``; it catches up from the leader.

The injector runs in its own thread with blocking calls. Every fault heals itself
(``finally``), and ``restore()`` brings the cluster back to three running, connected,
unpaused members whatever happened.
"""

from __future__ import annotations

import logging
import random
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.support.kvcluster import Cluster, Member
from tests.support.procs import wait_until

logger = logging.getLogger(__name__)

KINDS = (
    "kill-leader",
    "kill-follower",
    "pause-leader",
    "pause-follower",
    "isolate-leader",
    "split",
    "bridge",
    "slow",
    "member-replace",
)


@dataclass(frozen=True)
class Fault:
    kind: str
    hold: float
    """Seconds the fault lasts."""
    pick: float
    """In [0, 1): which member, among the candidates sorted by name."""
    latency: float = 0.0


def schedule(seed: int, hold: tuple[float, float] = (1.5, 5.0)) -> Iterator[Fault]:
    rng = random.Random(seed)
    first = list(KINDS)
    rng.shuffle(first)
    kinds: Iterator[str] = iter(first)
    while True:
        kind = next(kinds, None) or rng.choice(KINDS)
        yield Fault(kind, rng.uniform(*hold), rng.random(), rng.uniform(0.02, 0.2))


@dataclass
class Injector:
    cluster: Cluster
    seed: int
    quiet: tuple[float, float] = (1.0, 3.0)
    done: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    _state: dict[str, str] = field(default_factory=dict)
    _paused: set[str] = field(default_factory=set)

    def run(self, stop: threading.Event, duration: float, min_faults: int) -> None:
        """Inject faults until ``duration`` elapsed and ``min_faults`` were done, or stop."""
        rng = random.Random(f"{self.seed}-quiet")
        started = time.monotonic()
        for fault in schedule(self.seed):
            elapsed = time.monotonic() - started
            if stop.is_set() or (elapsed >= duration and self.done.total() >= min_faults):
                return
            self._note(f"t={elapsed:.1f}s {fault.kind} hold={fault.hold:.1f}s")
            try:
                self.inject(fault)
            finally:
                self.restore()
            self.done[fault.kind] += 1
            stop.wait(rng.uniform(*self.quiet))

    def _note(self, line: str) -> None:
        self.log.append(line)
        logger.info("fault %s", line)

    # --- faults ---------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        cluster = self.cluster
        leader = cluster.leader()
        followers = sorted((m for m in cluster.members if m is not leader), key=lambda m: m.name)
        follower = followers[int(fault.pick * len(followers))]
        everyone = sorted(cluster.members, key=lambda m: m.name)
        anyone = everyone[int(fault.pick * len(everyone))]
        if fault.kind in ("kill-leader", "kill-follower"):
            victim = leader if fault.kind == "kill-leader" else follower
            victim.server.kill(signal.SIGKILL)
            time.sleep(fault.hold)  # the fault itself: stay down for a while
            self._start(victim)
        elif fault.kind in ("pause-leader", "pause-follower"):
            victim = leader if fault.kind == "pause-leader" else follower
            self._signal(victim, signal.SIGSTOP)
            self._paused.add(victim.name)
            time.sleep(fault.hold)
            self._signal(victim, signal.SIGCONT)
            self._paused.discard(victim.name)
        elif fault.kind in ("isolate-leader", "split"):
            cluster.isolate(leader if fault.kind == "isolate-leader" else anyone)
            time.sleep(fault.hold)
        elif fault.kind == "bridge":
            a, b = (m for m in everyone if m is not anyone)
            cluster.cut(a, b)
            time.sleep(fault.hold)
        elif fault.kind == "slow":
            cluster.set_latency(fault.latency)
            time.sleep(fault.hold)
        elif fault.kind == "member-replace":
            self._replace(leader, follower)
        else:
            raise ValueError(f"unknown fault kind {fault.kind}")

    def _signal(self, member: Member, sig: int) -> None:
        if member.server.proc is not None and member.server.proc.poll() is None:
            member.server.proc.send_signal(sig)

    def _start(self, member: Member) -> None:
        self.cluster.start(member, state=self._state.get(member.name, "new"), wait=False)
        member.server.wait_ready(timeout=60)

    def _replace(self, leader: Member, victim: Member) -> None:
        cluster = self.cluster
        victim_id = cluster.status(victim).header.member_id
        victim.server.kill(signal.SIGKILL)
        _membership(leader.endpoint, rpc_pb2.MemberRemoveRequest(ID=victim_id))
        shutil.rmtree(victim.server.data_dir, ignore_errors=True)
        _membership(leader.endpoint, rpc_pb2.MemberAddRequest(peerURLs=[victim.peer_url]))
        self._state[victim.name] = "existing"
        self._start(victim)

    # --- recovery -------------------------------------------------------------

    def restore(self) -> None:
        """Heal links, resume paused members, restart dead ones, wait for a leader."""
        cluster = self.cluster
        cluster.heal_links()
        for member in cluster.members:
            if member.name in self._paused:
                self._signal(member, signal.SIGCONT)
        self._paused.clear()
        for member in cluster.members:
            proc = member.server.proc
            if proc is None or proc.poll() is not None:
                member.server.proc = None
                self._start(member)
        leader = cluster.leader()
        target = cluster.status(leader).header.revision

        def caught_up() -> bool:
            return all(cluster.status(m).header.revision >= target for m in cluster.members)

        wait_until(caught_up, timeout=60)


def _membership(endpoint: str, request: object, timeout: float = 60.0) -> None:
    """MemberRemove/MemberAdd through ``endpoint``, retried; "already done" counts as done."""
    done_codes = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)
    errors: list[grpc.RpcError] = []

    def attempt() -> bool:
        with grpc.insecure_channel(endpoint) as channel:
            stub = rpc_pb2_grpc.ClusterStub(channel)
            try:
                if isinstance(request, rpc_pb2.MemberRemoveRequest):
                    stub.MemberRemove(request, timeout=10)
                else:
                    assert isinstance(request, rpc_pb2.MemberAddRequest)
                    stub.MemberAdd(request, timeout=10)
            except grpc.RpcError as exc:
                if errors and exc.code() in done_codes:
                    return True  # an earlier attempt with an unknown outcome went through
                errors.append(exc)
                return False
        return True

    try:
        wait_until(attempt, timeout=timeout, interval=0.2)
    except TimeoutError as exc:
        raise RuntimeError(f"membership change failed: {errors[-1] if errors else exc}") from exc
