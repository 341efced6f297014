"""Transactions that read like the condition they check.

::

    result = await (
        client.txn()
        .if_(Compare.mod(b"k") == 7, Compare.value(b"owner") != b"me")
        .then(put(b"k", b"v"), txn().if_(Compare.version(b"x") > 0).then(delete(b"x")))
        .else_(get(b"k"))
        .commit()
    )
    result.succeeded, result.responses   # typed, one per op of the branch taken

Compare targets: ``value``, ``version``, ``create`` (create revision), ``mod`` (mod
revision) and ``lease``, each with ``==``, ``!=``, ``<``, ``>``. A comparison over a
range (``range_end`` or ``prefix=True``) holds when it holds for every key in it.
A missing key has version, create and mod revision 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

from kvstore.client._ops import DeleteOp, PutOp, RangeOp, resolve_range
from kvstore.client._types import KeyLike, to_bytes
from kvstore.pb import rpc_pb2

R = TypeVar("R")

_PB = rpc_pb2.Compare


@dataclass(frozen=True, slots=True)
class Comparison:
    """One compare of a transaction guard, made by ``Compare.<target>(key) <op> x``."""

    pb: rpc_pb2.Compare


class _Target:
    __slots__ = ("_key", "_range_end", "_target")

    def __init__(self, target: int, key: bytes, range_end: bytes) -> None:
        self._target = target
        self._key = key
        self._range_end = range_end

    def _make(self, result: int, operand: object) -> Comparison:
        pb = rpc_pb2.Compare(
            result=result,  # type: ignore[arg-type]
            target=self._target,  # type: ignore[arg-type]
            key=self._key,
            range_end=self._range_end,
        )
        if self._target == _PB.VALUE:
            if not isinstance(operand, bytes | str):
                raise TypeError("a value compare needs bytes or str")
            pb.value = to_bytes(operand)
        else:
            if not isinstance(operand, int) or isinstance(operand, bool):
                raise TypeError("a version/revision/lease compare needs an int")
            field = {
                _PB.VERSION: "version",
                _PB.CREATE: "create_revision",
                _PB.MOD: "mod_revision",
                _PB.LEASE: "lease",
            }[self._target]  # type: ignore[index]
            setattr(pb, field, operand)
        return Comparison(pb)

    def __eq__(self, other: object) -> Comparison:  # type: ignore[override]
        return self._make(_PB.EQUAL, other)

    def __ne__(self, other: object) -> Comparison:  # type: ignore[override]
        return self._make(_PB.NOT_EQUAL, other)

    def __lt__(self, other: object) -> Comparison:
        return self._make(_PB.LESS, other)

    def __gt__(self, other: object) -> Comparison:
        return self._make(_PB.GREATER, other)

    __hash__ = None  # type: ignore[assignment]


class Compare:
    """Factories for the left-hand side of a comparison."""

    @staticmethod
    def _target(target: int, key: KeyLike, range_end: KeyLike | None, prefix: bool) -> _Target:
        k, end = resolve_range(key, range_end, prefix)
        return _Target(target, k, end)

    @staticmethod
    def value(key: KeyLike, range_end: KeyLike | None = None, *, prefix: bool = False) -> _Target:
        return Compare._target(_PB.VALUE, key, range_end, prefix)

    @staticmethod
    def version(key: KeyLike, range_end: KeyLike | None = None, *, prefix: bool = False) -> _Target:
        return Compare._target(_PB.VERSION, key, range_end, prefix)

    @staticmethod
    def create(key: KeyLike, range_end: KeyLike | None = None, *, prefix: bool = False) -> _Target:
        return Compare._target(_PB.CREATE, key, range_end, prefix)

    @staticmethod
    def mod(key: KeyLike, range_end: KeyLike | None = None, *, prefix: bool = False) -> _Target:
        return Compare._target(_PB.MOD, key, range_end, prefix)

    @staticmethod
    def lease(key: KeyLike, range_end: KeyLike | None = None, *, prefix: bool = False) -> _Target:
        return Compare._target(_PB.LEASE, key, range_end, prefix)


class Txn(Generic[R]):
    """A transaction under construction; ``commit()`` sends it (when bound to a client).

    Calling ``if_``/``then``/``else_`` again appends. An unbound ``Txn`` (from
    :func:`txn`) is used as an operation nested inside another transaction.
    """

    def __init__(self, committer: Callable[[rpc_pb2.TxnRequest], R] | None = None) -> None:
        self._committer = committer
        self._compares: list[Comparison] = []
        self._success: list[Op] = []
        self._failure: list[Op] = []

    def if_(self, *comparisons: Comparison) -> Self:
        for c in comparisons:
            if not isinstance(c, Comparison):
                raise TypeError(f"expected a Comparison (e.g. Compare.mod(k) == 3), got {c!r}")
        self._compares.extend(comparisons)
        return self

    def then(self, *ops: Op) -> Self:
        self._success.extend(ops)
        return self

    def else_(self, *ops: Op) -> Self:
        self._failure.extend(ops)
        return self

    def to_request(self) -> rpc_pb2.TxnRequest:
        return rpc_pb2.TxnRequest(
            compare=[c.pb for c in self._compares],
            success=[op.to_pb() for op in self._success],
            failure=[op.to_pb() for op in self._failure],
        )

    def to_pb(self) -> rpc_pb2.RequestOp:
        return rpc_pb2.RequestOp(request_txn=self.to_request())

    def commit(self) -> R:
        if self._committer is None:
            raise TypeError("this transaction is not bound to a client; nest it in another")
        return self._committer(self.to_request())


Op = RangeOp | PutOp | DeleteOp | Txn[Any]
"""Anything a transaction branch can hold; nested transactions included."""


def txn() -> Txn[None]:
    """An unbound transaction, to nest inside another one's ``then``/``else_``."""
    return Txn(None)
