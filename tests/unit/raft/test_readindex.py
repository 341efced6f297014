"""ReadIndex bookkeeping: majorities, rounds, leadership loss, apply waits."""

from __future__ import annotations

from kvstore.raft.readindex import ReadIndex

VOTERS = {"b", "c"}  # the other two members of a 3-member cluster


def test_a_read_is_confirmed_by_a_majority_answering_a_later_round() -> None:
    reads = ReadIndex(round=7)
    reads.acked("b", 7)  # an answer to a round sent before the read
    got: list[int | None] = []
    reads.confirm(42, got.append)
    assert reads.needs_round()
    reads.settle(True, VOTERS)
    assert got == []  # round 7 was sent before the read arrived: proves nothing
    reads.round += 1  # the leader sends round 8
    assert not reads.needs_round()
    reads.acked("b", 8)
    reads.settle(True, VOTERS)
    assert got == [42]  # itself and b: 2 of 3


def test_five_members_need_two_other_answers() -> None:
    reads = ReadIndex()
    got: list[int | None] = []
    reads.confirm(5, got.append)
    reads.round = 1
    reads.acked("b", 1)
    reads.settle(True, {"b", "c", "d", "e"})
    assert got == []
    reads.acked("d", 1)
    reads.settle(True, {"b", "c", "d", "e"})
    assert got == [5]


def test_a_single_member_confirms_at_once() -> None:
    reads = ReadIndex()
    got: list[int | None] = []
    reads.confirm(3, got.append)
    reads.settle(True, set())
    assert got == [3]


def test_losing_leadership_fails_pending_reads() -> None:
    reads = ReadIndex()
    got: list[int | None] = []
    reads.confirm(9, got.append)
    reads.round = 1
    reads.settle(False, VOTERS)
    assert got == [None]
    reads.acked("b", 1)
    reads.settle(True, VOTERS)
    assert got == [None]  # answered once


def test_a_read_waits_until_the_index_is_applied() -> None:
    reads = ReadIndex()
    done: list[bool] = []
    reads.after_applied(10, done.append)
    reads.applied(9)
    assert done == []
    reads.applied(10)
    assert done == [True]
    reads.applied(11)
    assert done == [True]


def test_a_follower_question_is_answered_or_dropped_with_the_leader() -> None:
    reads = ReadIndex()
    done: list[bool] = []
    first = reads.ask("a", done.append, now=0.0)
    second = reads.ask("a", done.append, now=0.0)
    reads.answered(first, 4)
    reads.applied(4)
    assert done == [True]
    reads.forget_asked("a", now=0.5)  # same leader: still waiting
    assert done == [True]
    reads.forget_asked("b", now=0.5)  # a new leader will not answer what "a" was asked
    assert done == [True, False]
    reads.answered(second, 5)  # a late answer is ignored
    reads.applied(100)
    assert done == [True, False]


def test_a_question_the_leader_never_answers_is_given_up() -> None:
    reads = ReadIndex()
    done: list[bool] = []
    reads.ask("a", done.append, now=0.0)
    reads.forget_asked("a", now=0.9)
    assert done == []
    reads.forget_asked("a", now=1.1)  # the message or its answer was lost
    assert done == [False]


def test_a_voter_asking_in_the_leaders_term_is_the_majority_of_three() -> None:
    """Its question was sent after its read began, while it followed this
    leader: with the leader, a majority of 3 that no newer leader got past."""
    reads = ReadIndex(round=4)
    got: list[int | None] = []
    reads.confirm(12, got.append, asker="b")
    reads.settle(True, VOTERS)
    assert got == [12]
    assert not reads.needs_round()


def test_an_askers_answer_counts_for_its_own_read_only() -> None:
    reads = ReadIndex(round=4)
    asked: list[int | None] = []
    own: list[int | None] = []
    reads.confirm(12, own.append)  # the leader's own read: may have begun after b asked
    reads.confirm(12, asked.append, asker="b")
    reads.settle(True, VOTERS)
    assert (asked, own) == ([12], [])
    assert reads.needs_round()


def test_five_members_need_one_more_answer_besides_the_asker() -> None:
    voters = {"b", "c", "d", "e"}
    reads = ReadIndex(round=2)
    got: list[int | None] = []
    reads.confirm(7, got.append, asker="b")
    reads.settle(True, voters)
    assert got == []
    assert reads.needs_round()
    reads.acked("c", 2)  # a round sent before the read reached the leader
    reads.settle(True, voters)
    assert got == []
    reads.round = 3
    reads.acked("c", 3)
    reads.settle(True, voters)
    assert got == [7]  # itself, b (by asking) and c


def test_an_asker_that_is_not_a_voter_proves_nothing() -> None:
    reads = ReadIndex(round=1)
    got: list[int | None] = []
    reads.confirm(3, got.append, asker="learner")
    reads.settle(True, VOTERS)
    assert got == []
