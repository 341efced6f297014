"""Log compaction replaces the journal whole: a crash at any point of it
leaves a journal with every entry the member kept (``journalcompact``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysyncobj.journal import FileJournal, ResizableFile

from kvstore.raft.journalcompact import SCRATCH_SUFFIX, compact_to
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
    """Set ``[n]``: the journal files' n-th write from now on crashes."""
    budget: list[int] = []
    write = ResizableFile.write

    def counted(self: Any, offset: int, values: bytes) -> None:
        if budget:
            budget[0] -= 1
            if budget[0] < 0:
                raise Crash()
        write(self, offset, values)

    monkeypatch.setattr(ResizableFile, "write", counted)
    yield budget


def test_a_crash_at_any_write_of_a_compaction_loses_no_kept_entry(
    tmp_path: Path, crash_after: list[int]
) -> None:
    outcomes = set()
    for point in range(100):
        path = tmp_path / f"journal-{point}"
        journal = journal_with(path, 20)
        crash_after[:] = [point]
        try:
            compact_to(journal, str(path), 12)  # keeps entries 13-20
        except Crash:
            crashed = True
        else:
            crashed = False
        crash_after.clear()
        found = indexes(path)
        assert found in (list(range(1, 21)), list(range(13, 21))), (point, found)
        outcomes.add((crashed, tuple(found)))
        if not crashed:
            assert found == list(range(13, 21))
            assert not Path(str(path) + SCRATCH_SUFFIX).exists()
            break
    # both sides of the rename were reached: crashed with the old journal, done with the new
    assert (True, tuple(range(1, 21))) in outcomes
    assert (False, tuple(range(13, 21))) in outcomes


def test_a_scratch_file_left_by_a_crash_is_not_taken_for_entries(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = journal_with(path, 10)
    journal_with(Path(str(path) + SCRATCH_SUFFIX), 30)._destroy()
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
