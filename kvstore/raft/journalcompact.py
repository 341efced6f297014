"""Log compaction that a crash cannot tear.

pysyncobj compacts its journal in place: it marks the file empty, then writes
every entry it keeps again from the start, one by one. A member killed in
between restarts with only the entries it had written again, and it may have
acknowledged the rest to the leader: a majority of journals could then lack a
committed entry. Here the kept entries go to a new file, synced, which then
replaces the journal by rename: a crash leaves either the old journal, every
entry in it, or the new one.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from pysyncobj.journal import FileJournal, ResizableFile

from kvstore.raft.snapshotwriter import fsync_path

#: where the kept entries are written before they replace the journal
SCRATCH_SUFFIX = ".compacting"


def compact_to(journal: Any, path: str, entry_to: int) -> None:
    """What ``FileJournal.deleteEntriesTo`` does (keep ``journal[entry_to:]``),
    with the journal at ``path`` replaced whole instead of written in place."""
    if entry_to <= 0:
        return
    kept = list(journal._FileJournal__journal[entry_to:])
    scratch = path + SCRATCH_SUFFIX
    with contextlib.suppress(FileNotFoundError):
        os.unlink(scratch)  # left by a crash: it would be read as a journal
    fresh = FileJournal(scratch)
    try:
        for entry in kept:
            fresh.add(*entry)
        fresh.flush()
        fsync_path(scratch)
    finally:
        fresh._destroy()
    os.replace(scratch, path)
    fsync_path(os.path.dirname(path) or ".")
    journal._FileJournal__journalFile._destroy()
    journal._FileJournal__journalFile = ResizableFile(path)
    journal._FileJournal__journal = kept
    journal._FileJournal__currentOffset = fresh._FileJournal__currentOffset
