"""Log compaction that a crash cannot tear.

pysyncobj compacts its journal in place: it marks the file empty, then writes
every entry it keeps again from the start, one by one. A member killed in
between restarts with only the entries it had written again, and it may have
acknowledged the rest to the leader: a majority of journals could then lack a
committed entry. Here the kept entries go to a second file, synced, which then
replaces the journal by rename: a crash leaves either the old journal, every
entry in it, or the new one.

The replaced file is kept (by a hard link made before the rename) as the spare
that the next compaction writes into: freeing a journal's blocks and growing a
new file stalled the tick thread for tens of milliseconds under load, writing
into a file of the same size does not. The two files take twice a journal's
space on disk.
"""

from __future__ import annotations

import contextlib
import os
import struct
from typing import Any

from pysyncobj.journal import (
    FIRST_RECORD_OFFSET,
    LAST_RECORD_OFFSET_OFFSET,
    FileJournal,
    ResizableFile,
)

from kvstore.fsync import fsync_path

#: the file the next compaction writes into (an earlier journal)
SPARE_SUFFIX = ".spare"
#: the journal being replaced, linked here until the rename is done
RETIRING_SUFFIX = ".retiring"


def compact_to(journal: Any, path: str, entry_to: int) -> None:
    """What ``FileJournal.deleteEntriesTo`` does (keep ``journal[entry_to:]``),
    with the journal at ``path`` replaced whole instead of written in place."""
    if entry_to <= 0:
        return
    kept = list(journal._FileJournal__journal[entry_to:])
    spare = path + SPARE_SUFFIX
    header = journal._FileJournal__journalFile.read(0, LAST_RECORD_OFFSET_OFFSET)
    fresh = _emptied(spare, header)
    try:
        for entry in kept:
            fresh.add(*entry)
        fresh.flush()
        fsync_path(spare)
        end = fresh._FileJournal__currentOffset
    finally:
        fresh._destroy()
    retiring = path + RETIRING_SUFFIX
    with contextlib.suppress(FileNotFoundError):
        os.unlink(retiring)
    os.link(path, retiring)  # the replaced journal stays on disk ...
    os.replace(spare, path)
    os.replace(retiring, spare)  # ... as the next spare
    fsync_path(os.path.dirname(path) or ".")
    old = journal._FileJournal__journalFile
    journal._FileJournal__journalFile = ResizableFile(path)
    journal._FileJournal__journal = kept
    journal._FileJournal__currentOffset = end
    old._destroy()


def _emptied(path: str, header: bytes) -> Any:
    """A ``FileJournal`` at ``path`` with no entries, in the file there if it
    is one (its contents are left over, not entries: the header says so)."""
    if os.path.exists(path):
        if os.path.getsize(path) >= FIRST_RECORD_OFFSET:
            spare = ResizableFile(path)
            spare.write(0, header + struct.pack("<I", FIRST_RECORD_OFFSET))
            spare._destroy()
        else:  # a file cut short by a crash as it was created
            os.unlink(path)
    return FileJournal(path)
