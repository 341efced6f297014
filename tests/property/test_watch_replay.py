"""Watch catch-up from history (``ReadView.events``) against the model.

After a random sequence of batches of writes, lease revokes and compactions, replay
from every retained start revision S over a random key range must equal the model's
events in order (type, kv, prev_kv). After compaction at C the backend no longer
holds the deletes at C, nor anything a later revision <= C superseded, and the
``prev_kv`` of an event at C is gone (its previous version was compacted away) —
etcd behaves the same (its watch server reads prev_kv with a Range at rev - 1).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kvstore.pb import command_pb2, kv_pb2, rpc_pb2
from kvstore.storage.keys import KeyRange
from tests.property.harness import Harness
from tests.property.strategies import commands, key_ranges


@given(data=st.data())
def test_replay_from_every_retained_revision_matches_model(data: st.DataObject) -> None:
    h = Harness()
    try:
        for b in range(data.draw(st.integers(1, 8), label="batches")):
            for i in range(data.draw(st.integers(1, 4), label=f"batch {b} size")):
                h.stage(data.draw(commands(h.model), label=f"batch {b} command {i}"))
            h.flush()
        m = h.model
        for first in range(max(m.compacted, 1), m.head + 1):
            key, range_end = data.draw(key_ranges(), label=f"key range from {first}")
            h.check_history(first, key, range_end)
    finally:
        h.close()


def _put(key: bytes, value: bytes) -> command_pb2.Command:
    return command_pb2.Command(put=rpc_pb2.PutRequest(key=key, value=value))


def test_compaction_drops_tombstones_and_prev_kv_at_the_compact_revision() -> None:
    """The worked example behind the model's rule, checked on store and model alike."""
    h = Harness()
    try:
        h.stage(_put(b"a", b"1"))  # 2
        h.stage(_put(b"b", b"1"))  # 3
        h.flush()
        h.stage(_put(b"a", b"2"))  # 4
        h.stage(command_pb2.Command(delete_range=rpc_pb2.DeleteRangeRequest(key=b"b")))  # 5
        h.stage(_put(b"a", b"3"))  # 6
        h.stage(command_pb2.Command(compaction=rpc_pb2.CompactionRequest(revision=4)))
        h.flush()
        assert h.store is not None
        assert h.store.wait_compacted(4, 10.0)
        with h.store.read() as view:
            got = view.events(4, 6, KeyRange.of(b"\0", b"\0"), prev_kv=True)
        put4 = kv_pb2.KeyValue(key=b"a", create_revision=2, mod_revision=4, version=2, value=b"2")
        put6 = kv_pb2.KeyValue(key=b"a", create_revision=2, mod_revision=6, version=3, value=b"3")
        expected = [
            (4, [kv_pb2.Event(type=kv_pb2.Event.PUT, kv=put4)]),  # prev (rev 2) compacted
            (
                5,
                [
                    kv_pb2.Event(
                        type=kv_pb2.Event.DELETE,
                        kv=kv_pb2.KeyValue(key=b"b", mod_revision=5),
                        prev_kv=kv_pb2.KeyValue(
                            key=b"b", create_revision=3, mod_revision=3, version=1, value=b"1"
                        ),
                    )
                ],
            ),
            (6, [kv_pb2.Event(type=kv_pb2.Event.PUT, kv=put6, prev_kv=put4)]),
        ]
        assert got == expected
        assert h.model.watch_events(4, 6, b"\0", b"\0", prev_kv=True) == expected
        # Compacting at 5 removes the delete at 5 from history.
        h.stage(command_pb2.Command(compaction=rpc_pb2.CompactionRequest(revision=5)))
        h.flush()
        h.check_history(5, b"\0", b"\0")
        assert h.model.watch_events(5, 6, b"\0", b"\0", prev_kv=True) == [expected[2]]
    finally:
        h.close()
