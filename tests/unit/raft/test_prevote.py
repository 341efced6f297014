"""Pre-vote bookkeeping: who says yes, when a round passes, what ends it."""

from __future__ import annotations

from typing import Any

from kvstore.raft.prevote import RESPONSE, PreVote, up_to_date

LEASE = 0.4


def ask(term: int = 5, last_term: int = 5, last_index: int = 100) -> dict[str, Any]:
    return PreVote(LEASE).ask(term, last_term, last_index)


def grants(voter: PreVote, message: dict[str, Any], now: float = 10.0, **kw: Any) -> bool:
    state: dict[str, Any] = {"leader": False, "term": 5, "last_term": 5, "last_index": 100}
    state.update(kw)
    return voter.grants(message, now, **state)


def yes(term: int) -> dict[str, Any]:
    return {"type": RESPONSE, "term": term, "granted": True}


def test_the_request_asks_for_the_next_term_with_the_log_position() -> None:
    assert ask(5, 4, 100) == {
        "type": "kv_pre_vote",
        "term": 6,
        "last_log_term": 4,
        "last_log_index": 100,
    }


def test_a_voter_that_heard_the_leader_within_the_lease_says_no() -> None:
    voter = PreVote(LEASE)
    voter.heard_leader(9.8)
    assert not grants(voter, ask(), now=10.0)
    assert grants(voter, ask(), now=9.8 + LEASE)


def test_a_voter_that_never_heard_a_leader_says_yes_to_an_up_to_date_log() -> None:
    assert grants(PreVote(LEASE), ask())


def test_the_leader_says_no() -> None:
    assert not grants(PreVote(LEASE), ask(), leader=True)


def test_no_to_a_term_not_above_the_voters() -> None:
    assert not grants(PreVote(LEASE), ask(term=5), term=6)  # asks for 6, voter is in 6
    assert grants(PreVote(LEASE), ask(term=5), term=5)


def test_no_to_a_log_behind_the_voters() -> None:
    assert not grants(PreVote(LEASE), ask(last_term=4, last_index=200))  # older last term
    assert not grants(PreVote(LEASE), ask(last_term=5, last_index=99))  # shorter, same term
    assert grants(PreVote(LEASE), ask(last_term=6, last_index=1))  # newer last term wins


def test_up_to_date_compares_terms_before_lengths() -> None:
    assert up_to_date(3, 10, 3, 10)
    assert up_to_date(4, 1, 3, 10)
    assert not up_to_date(3, 9, 3, 10)
    assert not up_to_date(2, 99, 3, 10)


def test_a_round_passes_with_a_majority_counting_the_asker() -> None:
    asker = PreVote(LEASE)
    asker.ask(5, 5, 100)
    assert not asker.may_campaign(5)
    assert asker.answered("b", yes(6), term=5, voters=3)
    assert asker.may_campaign(5)
    assert not asker.may_campaign(6)  # once it campaigned (term 6), it asks again


def test_five_voters_need_two_yeses_counted_once_each() -> None:
    asker = PreVote(LEASE)
    asker.ask(5, 5, 100)
    assert not asker.answered("b", yes(6), term=5, voters=5)
    assert not asker.answered("b", yes(6), term=5, voters=5)  # the same voter again
    assert not asker.answered("c", {"type": RESPONSE, "term": 6, "granted": False}, 5, 5)
    assert asker.answered("d", yes(6), term=5, voters=5)


def test_answers_to_an_older_round_or_after_a_term_change_do_not_count() -> None:
    asker = PreVote(LEASE)
    asker.ask(5, 5, 100)
    assert not asker.answered("b", yes(5), term=5, voters=3)  # a round for term 5
    assert not asker.answered("b", yes(6), term=6, voters=3)  # the asker moved on
    assert not asker.may_campaign(5)


def test_hearing_the_leader_ends_the_round_and_a_passed_one() -> None:
    asker = PreVote(LEASE)
    asker.ask(5, 5, 100)
    asker.heard_leader(1.0)
    assert not asker.answered("b", yes(6), term=5, voters=3)
    asker.ask(5, 5, 100)
    assert asker.answered("b", yes(6), term=5, voters=3)
    asker.heard_leader(2.0)  # the leader was only slow: no campaign on this round
    assert not asker.may_campaign(5)


def test_a_lone_voter_is_allowed_without_a_round() -> None:
    asker = PreVote(LEASE)
    asker.allow(3)
    assert asker.may_campaign(3)
