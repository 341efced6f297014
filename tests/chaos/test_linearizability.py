"""The linearizability checker accepts correct register histories and catches broken ones."""

from __future__ import annotations

import random

from tests.chaos.history import RegisterOp, Status
from tests.chaos.linearizability import check_register, check_revision_order

K = b"k"


def op(
    kind: str,
    t0: float,
    t1: float,
    value: bytes | None = None,
    *,
    rev: int = 0,
    expected: bytes | None = None,
    succeeded: bool = False,
    status: Status = Status.OK,
    mod: int = 0,
) -> RegisterOp:
    return RegisterOp(
        0,
        kind,  # type: ignore[arg-type]
        K,
        t0,
        value=value,
        expected=expected,
        complete=t1 if status is not Status.UNKNOWN else float("inf"),
        status=status,
        succeeded=succeeded,
        revision=rev,
        mod_revision=mod,
    )


def test_accepts_concurrent_write_then_read() -> None:
    ops = [op("write", 0, 2, b"a", rev=2), op("write", 1, 5, b"b", rev=3), op("read", 3, 4, b"b")]
    assert check_register(K, ops).verdict == "ok"


def test_catches_stale_read() -> None:
    ops = [op("write", 0, 1, b"a", rev=2), op("write", 2, 3, b"b", rev=3), op("read", 4, 5, b"a")]
    result = check_register(K, ops)
    assert result.verdict == "illegal", result


def test_catches_read_of_never_written_value() -> None:
    ops = [op("write", 0, 1, b"a", rev=2), op("read", 2, 3, b"zzz")]
    assert check_register(K, ops).verdict == "illegal"


def test_catches_lost_cas_effect() -> None:
    # cas a->b succeeded, then a later read still sees a
    ops = [
        op("write", 0, 1, b"a", rev=2),
        op("cas", 2, 3, b"b", expected=b"a", succeeded=True, rev=3),
        op("read", 4, 5, b"a"),
    ]
    assert check_register(K, ops).verdict == "illegal"


def test_catches_double_successful_cas() -> None:
    ops = [
        op("write", 0, 1, b"a", rev=2),
        op("cas", 2, 5, b"b", expected=b"a", succeeded=True, rev=3),
        op("cas", 2, 5, b"c", expected=b"a", succeeded=True, rev=4),
    ]
    assert check_register(K, ops).verdict == "illegal"


def test_failed_cas_must_see_another_value() -> None:
    ops = [op("write", 0, 1, b"a", rev=2), op("cas", 2, 3, b"b", expected=b"a", rev=2)]
    assert check_register(K, ops).verdict == "illegal"


def test_unknown_write_may_take_effect_late_or_never() -> None:
    late = [
        op("write", 0, 1, b"a", rev=2),
        op("write", 2, 0, b"x", status=Status.UNKNOWN),
        op("read", 10, 11, b"a"),
        op("read", 12, 13, b"x"),
    ]
    assert check_register(K, late).verdict == "ok"
    never = [op("write", 0, 1, b"a", rev=2), op("write", 2, 0, b"x", status=Status.UNKNOWN)]
    never.append(op("read", 10, 11, b"a"))
    assert check_register(K, never).verdict == "ok"
    # ...but not before it was invoked
    early = [op("read", 0, 1, b"x"), op("write", 2, 0, b"x", status=Status.UNKNOWN)]
    assert check_register(K, early).verdict == "illegal"


def test_failed_ops_are_ignored() -> None:
    ops = [op("write", 0, 1, b"x", status=Status.FAIL), op("read", 2, 3, None)]
    assert check_register(K, ops).verdict == "ok"


def test_budget_returns_unknown_instead_of_hanging() -> None:
    # many concurrent writes of distinct values + reads in an impossible order: a huge
    # search space; with no budget the answer is "unknown", quickly
    rng = random.Random(1)
    ops = [op("write", 0, 100, f"v{i}".encode(), rev=i + 2) for i in range(40)]
    ops += [op("read", 0, 100, f"v{rng.randrange(40)}".encode()) for _ in range(40)]
    ops.append(op("read", 0, 100, b"never"))
    result = check_register(K, ops, budget=0.0)
    assert result.verdict in ("unknown", "illegal")
    assert check_register(K, ops, budget=0.0).verdict != "ok"


def test_a_correct_random_sequential_history_is_accepted() -> None:
    rng = random.Random(7)
    state: bytes | None = None
    ops: list[RegisterOp] = []
    t = 0.0
    for i in range(300):
        roll = rng.random()
        if roll < 0.4:
            ops.append(op("read", t, t + 1, state, rev=i + 2))
        elif roll < 0.7:
            state = f"v{i}".encode()
            ops.append(op("write", t, t + 1, state, rev=i + 2))
        else:
            ok = rng.random() < 0.5 and state is not None
            expected = state if ok else b"other"
            new = f"c{i}".encode()
            ops.append(op("cas", t, t + 1, new, expected=expected, succeeded=ok, rev=i + 2))
            state = new if ok else state
        t += 1.5 if rng.random() < 0.5 else 0.5  # some overlap
    assert check_register(K, ops, budget=10).verdict == "ok"


def test_revision_order_catches_time_travel() -> None:
    good = [op("write", 0, 1, b"a", rev=5), op("read", 2, 3, b"a", rev=5, mod=5)]
    assert check_revision_order(good) == []
    back = [op("write", 0, 1, b"a", rev=5), op("read", 2, 3, b"a", rev=4, mod=5)]
    assert check_revision_order(back)
    same = [op("write", 0, 1, b"a", rev=5), op("write", 2, 3, b"b", rev=5)]
    assert check_revision_order(same)
    wrong_mod = [op("write", 0, 1, b"a", rev=5), op("read", 2, 3, b"a", rev=6, mod=6)]
    assert check_revision_order(wrong_mod)
