"""A follower's commit from its own synced journal and the leader's stamp."""

from __future__ import annotations

from kvstore.raft.paircommit import PairCommit


def test_an_entry_of_the_term_synced_by_both_is_committed() -> None:
    log = {1: 1, 2: 2, 3: 2, 4: 2}
    pair = PairCommit(synced=(4, 2))
    pair.heard(2, 3)  # the leader's journal holds up to 3
    assert pair.commit(2, 1, 3, log.get) == 3  # min of the two
    assert pair.commit(2, 3, 3, log.get) is None  # no higher than it has
    pair.heard(2, 9)
    assert pair.commit(2, 3, 3, log.get) == 4  # its own journal bounds it


def test_only_the_leaders_term_and_three_voters_at_most() -> None:
    log = {1: 1, 2: 2}
    pair = PairCommit(synced=(2, 2))
    pair.heard(2, 2)
    assert pair.commit(3, 0, 3, log.get) is None  # a newer term: that stamp says nothing
    assert pair.commit(2, 0, 5, log.get) is None  # two of five are no majority
    assert pair.commit(2, 0, 2, log.get) == 2


def test_an_entry_of_an_older_term_waits_for_the_announcement() -> None:
    log = {1: 1, 2: 1, 3: 2}
    pair = PairCommit(synced=(3, 2))
    pair.heard(2, 2)  # covers only entries of term 1: Raft commits those only with one of its own
    assert pair.commit(2, 0, 3, log.get) is None
    pair.heard(2, 3)
    assert pair.commit(2, 0, 3, log.get) == 3


def test_a_log_rewritten_since_the_sync_holds_nothing_synced() -> None:
    log = {1: 1, 2: 1, 3: 1}
    pair = PairCommit(synced=(3, 1))
    assert pair.durable(log.get) == 3
    log.update({2: 2, 3: 2})  # truncated at 2 and written again, not synced yet
    assert pair.durable(log.get) == 0
    pair.heard(2, 3)
    assert pair.commit(2, 1, 3, log.get) is None


def test_the_leaders_read_floor_is_what_it_stamped_in_its_term() -> None:
    log = {1: 1, 2: 2, 3: 2}
    pair = PairCommit(synced=(3, 2))
    assert pair.floor(2) == 0
    assert pair.stamp(2, log.get) == 3
    assert pair.floor(2) == 3
    pair.synced = (2, 2)  # never lower than what it stamped before
    assert pair.stamp(2, log.get) == 2
    assert pair.floor(2) == 3
    assert pair.floor(3) == 0  # a later term starts over
    assert pair.stamp(3, log.get) == 2
    assert pair.floor(3) == 2
