"""Named read-only links (``kvstore.raft.learnerlinks``): who may learn, and
which links go when their member is removed."""

from __future__ import annotations

import logging

import pytest

from kvstore.raft.learnerlinks import RECHECK_SECONDS, LearnerLinks


def test_a_link_names_its_member() -> None:
    links = LearnerLinks("127.0.0.1:4", None)
    assert LearnerLinks.named(links.hello) == "127.0.0.1:4"
    assert LearnerLinks.named("readonly") is None  # pysyncobj's anonymous link
    assert LearnerLinks.named("127.0.0.1:4") is None  # a voter's link
    assert LearnerLinks.named(["status"]) is None  # a utility message


def test_only_members_learn_and_a_removed_ones_link_is_revoked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    members = {"127.0.0.1:4"}
    links = LearnerLinks("127.0.0.1:1", lambda address: address in members)
    caplog.set_level(logging.WARNING)
    assert links.admits("127.0.0.1:4")
    assert not links.admits("127.0.0.1:5")
    assert not links.admits("127.0.0.1:5")
    assert len([r for r in caplog.records if "127.0.0.1:5" in r.getMessage()]) == 1

    links.joined("0", "127.0.0.1:4")
    assert links.address_of("0") == "127.0.0.1:4"
    assert links.revoked(now=100.0) == []
    members.clear()  # removed
    assert links.revoked(now=100.0 + RECHECK_SECONDS / 2) == []  # not checked yet
    assert links.revoked(now=100.0 + RECHECK_SECONDS) == ["0"]
    links.left("0")
    assert links.address_of("0") is None
    assert links.revoked(now=200.0) == []
