"""How control-plane processes connect to the store: endpoints and client TLS.

Shared by ``kvstore controller-manager`` and ``kvstore agent``: the same
``--endpoints --cacert --cert --key`` flags as kvctl and etcdctl, so both can
talk to a cluster started with ``--client-cert-auth`` (the certificate's CN is
their user when auth is enabled).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from kvstore.client import Client


@dataclass(frozen=True)
class StoreConnection:
    endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    #: CA bundle to trust (https endpoints), client certificate and its key
    ca_cert: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def client(self) -> Client:
        return Client(list(self.endpoints), ca_cert=self.ca_cert, cert=self.cert, key=self.key)


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoints", default="127.0.0.1:2379", help="comma-separated host:port")
    p.add_argument("--cacert", type=Path, default=None, help="CA bundle of the store (TLS)")
    p.add_argument("--cert", type=Path, default=None, help="client certificate (mutual TLS)")
    p.add_argument("--key", type=Path, default=None, help="key of --cert")


def from_args(args: argparse.Namespace) -> StoreConnection:
    if (args.cert is None) != (args.key is None):
        raise ValueError("--cert and --key go together")
    return StoreConnection(
        endpoints=tuple(e.strip() for e in args.endpoints.split(",") if e.strip()),
        ca_cert=args.cacert,
        cert=args.cert,
        key=args.key,
    )
