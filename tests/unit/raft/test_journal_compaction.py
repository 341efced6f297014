"""Log compaction replaces the journal whole: a crash at any point of it
leaves a journal with every entry the member kept (``journalcompact``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysyncobj.journal import FileJournal, ResizableFile

from kvstore.raft.journalcompact import RETIRING_SUFFIX, SPARE_SUFFIX, compact_to
from tests.unit.raft.conftest import CMD, Follower


class Crash(Exception):
    """Stands for kill -9: the process stops here, what it wrote stays written."""


def journal_with(path: Path, count: int) -> Any:
    journal = FileJournal(str(path))
    for index in range(1, count + 1):
        journal.add(b"command-%d" % index, index, 1 + index // 10)
    journal.flush()
    return journal


def indexes(path: Path) -> list[int]:
    """The entries a member restarting on ``path`` would find."""
    reopened = FileJournal(str(path))
    try:
        return [int(entry[1]) for entry in reopened[:]]
    finally:
        reopened._destroy()


@pytest.fixture
def crash_after(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Set ``[n]``: the n-th step from now on crashes, a step being a write to a
    journal file or a link, rename or unlink of one."""
    budget: list[int] = []

    def counted(step: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            if budget:
                budget[0] -= 1
                if budget[0] < 0:
                    raise Crash()
            return step(*args, **kwargs)

        return run

    monkeypatch.setattr(ResizableFile, "write", counted(ResizableFile.write))
    for name in ("link", "replace", "unlink"):
        monkeypatch.setattr(os, name, counted(getattr(os, name)))
    yield budget


@pytest.mark.parametrize("with_spare", [False, True], ids=["first", "into-the-spare"])
def test_a_crash_at_any_step_of_a_compaction_loses_no_kept_entry(
    tmp_path: Path, crash_after: list[int], with_spare: bool
) -> None:
    before, after = list(range(1, 21)), list(range(9, 21))
    outcomes = set()
    for point in range(200):
        path = tmp_path / f"journal-{point}"
        journal = journal_with(path, 20)
        if with_spare:  # a compaction before, and more entries since
            compact_to(journal, str(path), 4)
            for index in range(21, 31):
                journal.add(b"command-%d" % index, index, 3)
            journal.flush()
            before, after = list(range(5, 31)), list(range(13, 31))
        crash_after[:] = [point]
        try:
            compact_to(journal, str(path), 8)  # keeps all but the first 8 entries
        except Crash:
            crashed = True
        else:
            crashed = False
        crash_after.clear()
        found = indexes(path)
        assert found in (before, after), (point, found)
        outcomes.add((crashed, tuple(found)))
        if not crashed:
            assert not Path(str(path) + RETIRING_SUFFIX).exists()
            break
    # both sides of the rename were reached: crashed with the old journal, done with the new
    assert (True, tuple(before)) in outcomes
    assert (False, tuple(after)) in outcomes


def test_the_replaced_journal_is_the_next_compactions_file(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = journal_with(path, 30)
    first = path.stat().st_ino
    compact_to(journal, str(path), 10)
    assert Path(str(path) + SPARE_SUFFIX).stat().st_ino == first
    compact_to(journal, str(path), 10)  # written into the first journal's file
    assert path.stat().st_ino == first
    assert [e[1] for e in journal[:]] == list(range(21, 31))
    journal._destroy()
    assert indexes(path) == list(range(21, 31))


def test_a_spares_old_entries_are_not_taken_for_entries(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = journal_with(path, 10)
    journal_with(Path(str(path) + SPARE_SUFFIX), 30)._destroy()
    compact_to(journal, str(path), 5)
    assert [e[1] for e in journal[:]] == list(range(6, 11))
    journal._destroy()
    assert indexes(path) == list(range(6, 11))


def test_a_member_compacts_by_replacing_its_journal_and_goes_on_appending(
    tmp_path: Path, sent: list[dict[str, Any]]
) -> None:
    path = tmp_path / "journal"
    follower = Follower(tmp_path / "dump", path)
    follower.sent = sent
    try:
        follower.append(term=2, prev=1, entries=[2, 2, 2, 2])  # indexes 2-5
        journal = follower.node._SyncObj__raftLog
        before = path.stat().st_ino
        journal.deleteEntriesTo(2)  # as pysyncobj's compaction calls it: keeps 3-5
        assert path.stat().st_ino != before
        assert [e[1] for e in journal[:]] == [3, 4, 5]
        follower.receive(  # indexes 6-7, after the swap
            {
                "type": "append_entries",
                "term": 2,
                "commit_index": 1,
                "prevLogIdx": 5,
                "prevLogTerm": 2,
                "entries": [(CMD, 6, 2), (CMD, 7, 2)],
            }
        )
        assert follower.last_reply()["success"]
        assert [e[1] for e in journal[:]] == [3, 4, 5, 6, 7]
    finally:
        follower.node.destroy()
    assert indexes(path) == [3, 4, 5, 6, 7]
