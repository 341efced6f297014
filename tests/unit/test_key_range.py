"""KeyRange.overlaps: whether a range may hold a key between two bounds,
checked against keys themselves."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from kvstore.storage.keys import KeyRange

ALPHABET = b"\x00ab"
KEYS = st.lists(st.sampled_from(ALPHABET), max_size=3).map(bytes)
#: every key of the alphabet up to 3 bytes
UNIVERSE = [bytes(p) for n in range(4) for p in itertools.product(ALPHABET, repeat=n)]


@given(key=KEYS, range_end=st.one_of(st.just(b""), st.just(b"\x00"), KEYS), a=KEYS, b=KEYS)
def test_overlaps_when_some_key_between_the_bounds_is_in_range(
    key: bytes, range_end: bytes, a: bytes, b: bytes
) -> None:
    kr = KeyRange.of(key, range_end)
    low, high = min(a, b), max(a, b)
    # a witness, if there is one, is the range's start or a bound (kept in the universe)
    between = [k for k in {*UNIVERSE, key, low, high} if low <= k <= high]
    assert kr.overlaps(low, high) == any(kr.contains(k) for k in between)


def test_overlaps_examples() -> None:
    prefix = KeyRange.of(b"/registry/", b"/registry0")
    assert not prefix.overlaps(b"/etcdctl-check-perf/a", b"/etcdctl-check-perf/z")
    assert prefix.overlaps(b"/a", b"/registry/pods")
    assert KeyRange.of(b"k").overlaps(b"j", b"l")
    assert not KeyRange.of(b"k").overlaps(b"ka", b"l")
    assert KeyRange.of(b"a", b"\x00").overlaps(b"z", b"zz")
