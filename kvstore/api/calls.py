"""Counts of gRPC calls per method, exported as etcd exports them.

etcd counts every call with go-grpc-prometheus's server counters: calls
started, calls handled (by status code), messages received and messages sent.
Its usual alerts read them: a high rate of handled calls with an error code
(Unknown, FailedPrecondition, ResourceExhausted, Internal, Unavailable,
DataLoss, DeadlineExceeded) pages someone.

Here the counts are plain integers bumped on the event loop by the outer
layer of each call (``decoding.guarded``), and turned into metrics only when
``/metrics`` is scraped. As in etcd, every method appears from the start,
with every status code at 0, and a request that cannot be decoded is not
counted (grpc-go rejects it before its interceptors run).

The same layer adds up the bytes of every message received and sent
(``etcd_network_client_grpc_*_bytes_total``: the encoded messages, as etcd
counts them), and ``callctx`` counts each etcd call by kind and by the
client's ``client-api-version`` (``etcd_server_client_requests_total``).

With ``--metrics=extensive``, as in etcd, each call's handling time (a
stream's: from its start to its end) also goes into the histogram
``grpc_server_handling_seconds``, in Prometheus's default buckets: what
etcd-mixin's slow-request alert reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from kvstore.durations import DEFAULT_BUCKETS, Durations

#: status codes by the names grpc-go gives them (``codes.Code.String()``)
GO_NAMES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.OK: "OK",
    grpc.StatusCode.CANCELLED: "Canceled",
    grpc.StatusCode.UNKNOWN: "Unknown",
    grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.NOT_FOUND: "NotFound",
    grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition",
    grpc.StatusCode.ABORTED: "Aborted",
    grpc.StatusCode.OUT_OF_RANGE: "OutOfRange",
    grpc.StatusCode.UNIMPLEMENTED: "Unimplemented",
    grpc.StatusCode.INTERNAL: "Internal",
    grpc.StatusCode.UNAVAILABLE: "Unavailable",
    grpc.StatusCode.DATA_LOSS: "DataLoss",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated",
}
OK = GO_NAMES[grpc.StatusCode.OK]
CANCELED = GO_NAMES[grpc.StatusCode.CANCELLED]
UNKNOWN = GO_NAMES[grpc.StatusCode.UNKNOWN]

LABELS = ("grpc_type", "grpc_service", "grpc_method")
#: the metadata etcd's clients send their API version in, and the label without it
CLIENT_API_VERSION = "client-api-version"
NO_VERSION = "unknown"


def client_api_version(metadata: Iterable[tuple[str, Any]]) -> str:
    for key, value in metadata:  # a loop: no generator per call
        if key == CLIENT_API_VERSION:
            return str(value)
    return NO_VERSION


@dataclass
class Traffic:
    """A member's client traffic: bytes of the messages received and sent,
    and calls by (``unary`` or ``stream``, client API version)."""

    received_bytes: int = 0
    sent_bytes: int = 0
    requests: dict[tuple[str, str], int] = field(default_factory=dict)

    def request(self, kind: str, version: str) -> None:
        key = (kind, version)
        self.requests[key] = self.requests.get(key, 0) + 1


def go_name(code: grpc.StatusCode | None) -> str:
    """The status a call ended with, given what its context holds after an
    abort (no code set: grpc answers Unknown)."""
    return GO_NAMES.get(code, UNKNOWN) if code is not None else UNKNOWN


def kind(handler: grpc.RpcMethodHandler[Any, Any]) -> str:
    """go-grpc-prometheus's ``grpc_type`` of a method."""
    if handler.unary_unary:
        return "unary"
    if handler.unary_stream:
        return "server_stream"
    if handler.stream_unary:
        return "client_stream"
    return "bidi_stream"


@dataclass
class MethodCalls:
    """One method's counts."""

    kind: str
    service: str
    name: str
    #: the member's, shared by all its methods
    traffic: Traffic = field(default_factory=Traffic)
    started: int = 0
    received: int = 0
    sent: int = 0
    handled: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GO_NAMES.values(), 0))
    #: handling times (``--metrics=extensive`` only)
    durations: Durations | None = None

    def begin(self) -> float:
        """A call starts: counted; its start time if calls are timed (else 0)."""
        self.started += 1
        return time.perf_counter() if self.durations is not None else 0.0

    def end(self, code: str, began: float) -> None:
        """The call that ``begin`` returned ``began`` for ended with ``code``."""
        self.handled[code] += 1
        if self.durations is not None:
            self.durations.observe(time.perf_counter() - began)

    @property
    def labels(self) -> list[str]:
        return [self.kind, self.service, self.name]


class CallCounts(Collector):
    """Every registered method's counts: a member's ``/metrics`` collects them."""

    def __init__(self, timed: bool = False) -> None:
        self._methods: list[MethodCalls] = []
        #: every call's handling time is observed (etcd's --metrics=extensive)
        self.timed = timed
        self.traffic = Traffic()

    def method(self, full_name: str, handler: grpc.RpcMethodHandler[Any, Any]) -> MethodCalls:
        """The counts of ``/package.Service/Method``, kept from now on."""
        service, _, name = full_name.lstrip("/").partition("/")
        calls = MethodCalls(kind(handler), service, name, self.traffic)
        if self.timed:
            calls.durations = Durations(DEFAULT_BUCKETS)
        self._methods.append(calls)
        return calls

    def collect(self) -> Iterator[Metric]:
        yield from self._traffic()
        for metric, doc, count in (
            ("grpc_server_started_total", "Total number of RPCs started on the server.", "started"),
            (
                "grpc_server_msg_received_total",
                "Total number of RPC stream messages received on the server.",
                "received",
            ),
            (
                "grpc_server_msg_sent_total",
                "Total number of gRPC stream messages sent by the server.",
                "sent",
            ),
        ):
            family = CounterMetricFamily(metric, doc, labels=LABELS)
            for m in self._methods:
                family.add_metric(m.labels, getattr(m, count))
            yield family
        handled = CounterMetricFamily(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            labels=("grpc_code", *LABELS),
        )
        for m in self._methods:
            for code, value in m.handled.items():
                handled.add_metric([code, *m.labels], value)
        yield handled
        if not self.timed:
            return
        handling = HistogramMetricFamily(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been "
            "application-level handled by the server.",
            labels=LABELS,
        )
        for m in self._methods:
            if m.durations is not None:
                handling.add_metric(m.labels, m.durations.exposition(), m.durations.sum)
        yield handling

    def _traffic(self) -> Iterator[Metric]:
        traffic = self.traffic
        for metric, doc, total in (
            (
                "etcd_network_client_grpc_received_bytes_total",
                "The total number of bytes received from grpc clients.",
                traffic.received_bytes,
            ),
            (
                "etcd_network_client_grpc_sent_bytes_total",
                "The total number of bytes sent to grpc clients.",
                traffic.sent_bytes,
            ),
        ):
            yield CounterMetricFamily(metric, doc, value=total)
        requests = CounterMetricFamily(
            "etcd_server_client_requests_total",
            "The total number of client requests per client version.",
            labels=("type", "client_api_version"),
        )
        for (call_kind, version), count in sorted(traffic.requests.items()):
            requests.add_metric([call_kind, version], count)
        yield requests
