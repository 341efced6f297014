"""What every service needs from the member: passed down, never global."""

from __future__ import annotations

from dataclasses import dataclass

from kvstore.api.auth import AuthGuard
from kvstore.api.calls import CallCounts
from kvstore.api.edge import Identity
from kvstore.config import ServerConfig
from kvstore.lease.lessor import Lessor
from kvstore.pb import rpc_pb2
from kvstore.raft.proposer import Proposer
from kvstore.storage.store import MvccStore
from kvstore.watch.hub import WatchHub


@dataclass(frozen=True)
class Member:
    config: ServerConfig
    identity: Identity
    store: MvccStore
    proposer: Proposer
    hub: WatchHub
    lessor: Lessor
    auth: AuthGuard
    #: the gRPC calls served, per method (for /metrics)
    calls: CallCounts

    def header(self) -> rpc_pb2.ResponseHeader:
        """A response header at the current revision and term."""
        return self.identity.header(self.store.revision, self.proposer.term())
