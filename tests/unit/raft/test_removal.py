"""When a voter that hears no leader asks whether it was removed, and whose
answer it believes (``kvstore.raft.removal``)."""

from __future__ import annotations

from kvstore.raft.peerlink import PeerConnection
from kvstore.raft.removal import RemovalCheck, answer, believes_removed


def _no_link() -> PeerConnection:
    raise AssertionError("no peer to ask")


def test_only_a_peer_at_least_as_far_in_the_log_is_believed() -> None:
    assert believes_removed(answer(True, 120), applied=100)
    assert believes_removed(answer(True, 100), applied=100)
    # behind the asker: it may not have applied a later re-add of the same ID
    assert not believes_removed(answer(True, 99), applied=100)
    assert not believes_removed(answer(False, 500), applied=100)
    for odd in (None, "SUCCESS", {"removed": 1, "applied": 200}, {"removed": True}):
        assert not believes_removed(odd, applied=100)


def test_the_asked_member_answers_from_its_member_list() -> None:
    removed = {7}
    check = RemovalCheck(1, lambda member_id: member_id in removed, after=5.0, started=0.0)
    assert check.answer([7], applied=42) == {"removed": True, "applied": 42}
    assert check.answer([8], applied=42) == {"removed": False, "applied": 42}
    assert check.answer([], applied=42)["removed"] is False
    assert check.answer(["7"], applied=42)["removed"] is False


def test_a_round_is_due_after_a_silence_and_then_once_per_silence_period() -> None:
    check = RemovalCheck(1, lambda member_id: False, after=5.0, started=100.0)
    never = float("-inf")
    assert not check.due(104.0, heard=never)  # just started
    assert check.due(105.0, heard=never)
    assert not check.due(105.0, heard=101.0)  # a leader was heard 4 s ago
    assert check.due(106.0, heard=101.0)
    check.ask(106.0, [], _no_link, lambda: 0, lambda: None)
    assert not check.due(110.0, heard=101.0)
    assert check.due(111.0, heard=101.0)
