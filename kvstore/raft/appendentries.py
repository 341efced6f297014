"""Raft's follower rules, enforced in front of pysyncobj's message handler.

pysyncobj's follower departs from Raft (Figure 2 of the paper) in ways that
can lose committed entries or apply uncommitted ones:

- On an append-entries whose ``prevLogIdx`` matches, it deletes *every* entry
  after ``prevLogIdx`` whenever its log is longer, even entries that agree
  with the leader's. A delayed or repeated append-entries (same term, lower
  ``prevLogIdx``) thus shortens a log that has already acknowledged more, and
  the leader goes on counting this member for entries it no longer holds.
  Raft deletes only from the first entry that *conflicts* (same index,
  different term), and commits up to ``min(leaderCommit, last new entry)``.
- While a snapshot arrives in pieces, each piece carries the leader's commit
  index, and pysyncobj commits (and applies) its own log up to it: entries
  the new leader never had, from a term this member led, included.
- Its ``next_node_idx`` replies carry no term, so a leader re-elected in a
  later term can take a reply meant for its earlier term as an acknowledgement.

``normalize`` rewrites an incoming append-entries so that pysyncobj's handling
of it has exactly Raft's effect, and returns the highest ``next_node_idx`` a
success reply to it may claim. Replies are stamped with the sender's term
(``stamp_reply``) and a leader drops those from another term (``stale_reply``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: the term of the entry at an index, or None when the log does not hold it
TermAt = Callable[[int], int | None]


@dataclass(frozen=True)
class Normalized:
    message: dict[str, Any]
    #: a success reply to this message may acknowledge entries below this index only
    reply_cap: int | None = None


def normalize(message: dict[str, Any], term_at: TermAt, last_index: int) -> Normalized:
    """Rewrite a regular append-entries (with ``prevLogIdx``) as described above."""
    if "prevLogIdx" not in message:
        serialized = message.get("serialized")
        if serialized is None or not serialized[2]:
            # A piece of a snapshot (or a wait for one) vouches for nothing in
            # our log, but pysyncobj would commit our log up to the leader's
            # commit index on its account, stale entries included.
            return Normalized(dict(message, commit_index=0))
        return Normalized(message)  # the snapshot replaces the log; it is committed
    prev = message.get("prevLogIdx")
    if prev is None or "transmission" in message:
        return Normalized(message)
    if term_at(prev) != message.get("prevLogTerm"):
        return Normalized(message)  # pysyncobj rejects it and asks for earlier entries
    entries: list[Any] = list(message.get("entries") or [])
    if entries and (entries[0][1] != prev + 1 or entries[-1][1] != prev + len(entries)):
        return Normalized(message)  # not the consecutive run pysyncobj sends; leave it alone
    matched = prev
    fresh: list[Any] = []
    for position, entry in enumerate(entries):
        if term_at(entry[1]) != entry[2]:  # beyond our log, or a conflict: Raft truncates here
            fresh = entries[position:]
            break
        matched = entry[1]
    if fresh or matched == last_index:
        # Our log agrees up to ``matched``; anything we hold after it conflicts
        # with ``fresh`` (or there is nothing after it), so truncating there is right.
        out = dict(message, prevLogIdx=matched, prevLogTerm=term_at(matched), entries=fresh)
        return Normalized(out)
    # Everything sent is already here, and our log goes on past it with entries
    # the leader has not vouched for: keep them, but neither acknowledge nor
    # commit them on this message's account.
    out = dict(
        message,
        prevLogIdx=last_index,
        prevLogTerm=term_at(last_index),
        entries=[],
        commit_index=min(int(message["commit_index"]), matched),
    )
    return Normalized(out, reply_cap=matched + 1)


@dataclass
class Reassembly:
    """Large single entries arrive in pieces (``transmission`` start/process/
    finish); reassemble them here so that the finished entry goes through
    ``normalize`` like any other."""

    _parts: dict[Any, list[bytes]] = field(default_factory=dict)

    def feed(self, node: Any, message: dict[str, Any]) -> dict[str, Any]:
        transmission = message.get("transmission")
        if transmission is None:
            return message
        if transmission == "start":
            self._parts[node] = [message["data"]]
        elif node in self._parts:
            self._parts[node].append(message["data"])
        if transmission != "finish":
            # pysyncobj still answers the piece, but keeps no copy of its own
            # (it would append each piece to a bytes object: quadratic)
            return dict(message, data=b"")
        parts = self._parts.get(node)
        if parts is None:
            return message
        try:
            # our own peers' data, over the authenticated, encrypted peer link
            entry = pickle.loads(b"".join(parts))
        except Exception:
            # pysyncobj marks a piece "finish" by the command's length, not the
            # pickled entry's, so a last piece can follow: keep collecting.
            return dict(message, transmission="process", data=b"")
        del self._parts[node]
        out = {k: v for k, v in message.items() if k not in ("transmission", "data")}
        out["entries"] = [entry]
        return out


def stamp_reply(message: dict[str, Any], term: int) -> None:
    if message.get("type") == "next_node_idx":
        message["term"] = term


def stale_reply(message: dict[str, Any], term: int) -> bool:
    """A ``next_node_idx`` from another term (all our members stamp theirs)."""
    return message.get("type") == "next_node_idx" and message.get("term", term) != term


def cap_reply(message: dict[str, Any], cap: int) -> None:
    if message.get("type") == "next_node_idx" and message.get("success"):
        message["next_node_idx"] = min(int(message["next_node_idx"]), cap)
