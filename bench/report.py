"""Writing a run: JSON (timestamped and latest.json) and the RESULTS.md tables."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: (row key, label) of the numeric figures shown for every workload that has them.
FIGURES = [
    ("ops_per_s", "ops/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("p999_ms", "p99.9 ms"),
    ("cpu_us_per_op", "server CPU µs/op"),
    ("keys_per_s", "keys listed/s"),
    ("put_rate", "puts/s achieved"),
    ("idle_cpu_pct", "idle CPU before load, % of a core"),
    ("rss_before_mb", "RSS before load, MB"),
    ("rss_mb", "RSS after load, MB"),
    ("db_size_mb", "db size, MB"),
    ("failover_ms", "leader kill → first put, ms"),
    ("catchup_s", "restart → caught up, s"),
    ("catchup_keys", "keys written while down"),
    ("degraded_put_rate", "puts/s with 2 of 3 up"),
]
RATIO_OF = ("kvstore", "etcd")
#: the figures of the floor tables
FLOOR_FIGURES = [
    ("ops_per_s", "ops/s"),
    ("p50_ms", "p50 ms"),
    ("cpu_us_per_op", "server CPU µs/op"),
]
#: the empty gRPC server (bench.floor); its rows get their own table
FLOOR = "grpc-floor"
HOW_TO_READ = [
    "- The load generator shares the machine's cores with the servers. With few cores the "
    "Python client saturates first, so etcd's figures at 16/128 in flight are a lower bound "
    "and ratios there understate etcd's lead.",
    "- Short windows (quick mode) vary by tens of percent from run to run; decide on full mode.",
    "- put/get: random keys out of the keyspace, values of the mode's size; `cN` = N requests "
    "in flight. A single kvstore member serves linearizable reads locally without a barrier "
    "(nothing else can have committed more); etcd still does a ReadIndex round.",
    "- server CPU µs/op: the CPU time (user + system) of all the system's members together "
    "during the measured window, divided by the operations measured in it; the load "
    "generator's share is not in it. The machine is saturated at 16/128 in flight, so "
    "this is what throughput there comes down to. For watch rows it is per event "
    "delivered, from the first put to the last event (the puts included); for "
    "lease.keepalive per keep-alive answered.",
    "- txn.cas: Kubernetes-style compare-and-swap on mod revision over a few hot keys; each "
    "task caches revisions, a failed compare returns the current value (conflict).",
    "- range.list: a paged list (limit, next key = last key + NUL, revision pinned by the "
    "first page), 4 lists in flight; latency is the whole list.",
    "- watch.latency.rN: put sent → event received (includes the put), puts paced at N/s. "
    "watch.fanout.wN: N watchers (one stream each) on a prefix, puts 16 in flight; "
    "events/s from the first put to the last event. Every event is checked to arrive exactly "
    "once at every watcher.",
    "- lease.keepalive: one LeaseKeepAlive stream, 64 requests pipelined over 100 leases.",
    "- footprint: a fresh deployment loaded with the mode's key count, 64 in flight (ops/s is "
    "the load rate); RSS is VmRSS of the largest member, db size is Maintenance.Status dbSize. "
    "Idle CPU: the busiest member's CPU time (user + system) over half the mode's window, "
    "before the load, with no client connected.",
    "- 3 members: client tasks are spread round-robin over the members' endpoints. Before "
    "each workload the third member is made leader (MoveLeader) in both systems, so the "
    "first member, which takes the single-stream workloads (put.seq, lease.keepalive), is "
    "a follower in both.",
    "- cluster.failover (3 members, run last): SIGKILL the leader (Status `leader` = "
    "`header.member_id`); time until a put through the two survivors succeeds (a new probe "
    "put every 20 ms). Then, with it still down, write the mode's key count through the "
    "survivors (64 in flight), restart it on its old data dir and time until its Status "
    "revision equals the new leader's (process start-up included).",
]


def write_json(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = result["meta"]["date"].replace(":", "").replace("-", "")
    path = out_dir / f"{stamp}.json"
    text = json.dumps(result, indent=2, sort_keys=False, default=str) + "\n"
    path.write_text(text)
    (out_dir / "latest.json").write_text(text)
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if value >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return str(value)


def _ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "—"
    if math.isnan(a) or math.isnan(b):
        return "—"
    return f"{a / b:.2f}"


def _special(name: str, row: dict[str, Any]) -> list[tuple[str, str]]:
    """Non-numeric figures of a row: splits and checks."""
    out = []
    if "success" in row or "conflict" in row:
        out.append(("success / conflict", f"{row.get('success', 0)} / {row.get('conflict', 0)}"))
    if "check" in row:
        out.append(
            (
                "check",
                ("ok: " if row.get("ok") else "**")
                + str(row["check"])
                + ("" if row.get("ok") else "**"),
            )
        )
    if row.get("errors"):
        out.append(("errors", ", ".join(f"{k} {v}" for k, v in row["errors"].items())))
    if "skipped" in row:
        out.append(("status", str(row["skipped"])))
    return out


def table(runs: list[dict[str, Any]]) -> list[str]:
    """One long table: a line per workload and figure, a column per system."""
    systems = [r["system"] for r in runs]
    by_system = {r["system"]: r for r in runs}
    has_ratio = all(s in by_system and by_system[s].get("status") == "ok" for s in RATIO_OF)
    header = ["Workload", "Figure", *systems] + (["kvstore/etcd"] if has_ratio else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    names: list[str] = []
    for r in runs:
        names += [n for n in r.get("workloads", {}) if n not in names]
    for name in names:
        rows = {s: by_system[s].get("workloads", {}).get(name, {}) for s in systems}
        for key, label in FIGURES:
            if not any(key in row for row in rows.values()):
                continue
            cells = [
                _fmt(rows[s].get(key)) if by_system[s].get("status") == "ok" else "n/a"
                for s in systems
            ]
            if has_ratio:
                cells.append(_ratio(rows["kvstore"].get(key), rows["etcd"].get(key)))
            shown = "events/s" if key == "ops_per_s" and name.startswith("watch") else label
            lines.append(f"| {name} | {shown} | " + " | ".join(cells) + " |")
        specials: dict[str, dict[str, str]] = {}
        for s in systems:
            for label, text in _special(name, rows[s]):
                specials.setdefault(label, {})[s] = text
        for label, texts in specials.items():
            cells = [texts.get(s, "—") for s in systems] + (["—"] if has_ratio else [])
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return lines


def _figure(runs: list[dict[str, Any]], system: str, members: int, name: str, key: str) -> Any:
    """Figure ``key`` of workload ``name`` in ``system``'s run at ``members`` (if it ran)."""
    for r in runs:
        if r["system"] == system and r["members"] == members and r.get("status") == "ok":
            return r.get("workloads", {}).get(name, {}).get(key)
    return None


@dataclass(frozen=True)
class Target:
    """A goal from the bench issue: kvstore's figure against etcd's, as a ratio."""

    label: str
    members: int
    workload: str
    key: str
    #: "min": the ratio kvstore/etcd must be at least ``bound``; "max": at most
    kind: str
    bound: float

    def ratio(self, runs: list[dict[str, Any]], system: str = "kvstore") -> float | None:
        """``system``'s figure over etcd's (None when either is missing)."""
        kv, etcd = (
            _figure(runs, s, self.members, self.workload, self.key) for s in (system, "etcd")
        )
        if not isinstance(kv, int | float) or not isinstance(etcd, int | float) or not etcd:
            return None
        return float(kv) / float(etcd)

    def met(self, ratio: float) -> bool:
        return ratio >= self.bound if self.kind == "min" else ratio <= self.bound


_PUT, _SEQ = "put.c128", "put.seq"
_SER, _LIN, _FAN = "get.serializable.c128", "get.linearizable.c128", "watch.fanout.w100"
TARGETS = [
    Target("3-member put, 128 in flight (ops/s)", 3, _PUT, "ops_per_s", "min", 0.8),
    Target("3-member sequential put p50 (ms)", 3, _SEQ, "p50_ms", "max", 2.0),
    Target("serializable get, 128 in flight (ops/s)", 1, _SER, "ops_per_s", "min", 1.0),
    Target("same, 3 members (ops/s)", 3, _SER, "ops_per_s", "min", 1.0),
    Target("3-member linearizable get, 128 in flight (ops/s)", 3, _LIN, "ops_per_s", "min", 0.8),
    Target("watch fan-out to 100 watchers (events/s)", 1, _FAN, "ops_per_s", "min", 1.0),
    Target("same, 3 members (events/s)", 3, _FAN, "ops_per_s", "min", 1.0),
]
FAILOVER_LIMIT_MS = 3000.0

#: what the profiles (py-spy) say limits the figures that miss their target
LIMITS = """## What limits kvstore

- **gRPC in Python.** Most of a member's main thread is grpcio's own per-call
  machinery (its Cython and asyncio callbacks), not kvstore's code: a
  serializable get spends about a sixth of its CPU in kvstore (validation, the
  LMDB read, the response). The floor tables measure it: empty grpcio
  servers, driven the same way, serve far fewer gets at 128 in flight than
  etcd, so no server on grpcio meets the serializable-get target on this
  machine; the floor column of the targets table shows which targets remain
  within reach. The load generator, also Python, shares the cores. Members
  (and the floor) run on uvloop, libuv's event loop: in an A/B it served
  10-20% more gets and writes at 128 in flight than asyncio's own loop, and
  ~40% more events to 100 watchers (two rounds, widely spread). A member
  driving pysyncobj from its event loop instead of a thread of its own (no
  GIL hand-offs; measured once as a prototype) made writes at 128 in flight
  2.5 times slower: the journal and LMDB syncs then stall every gRPC call.
  grpcio's asyncio server keeps a pending request for the next call of every
  "registered method" and, for each call it accepts, waits on all of them
  again (``asyncio.wait``): with etcd's ~50 methods that was 11% of a
  member's event loop under 128 gets in flight (py-spy). Members now register
  their handlers as generic ones only: in A/B runs, gets at 128 in flight on
  one member +14%, writes at 128 in flight on three +12%.
- **Writes beside 1,000 watchers on one member arrive one at a time.** Logged
  in the Put handler: calls enter and leave strictly in turn although the
  putter has 16 in flight. grpcio's asyncio server asks its core for the next
  call only after the previous one reached the event loop, and that answer
  queues behind the stream writes of a fan-out, so about one call is accepted
  per fan-out. When every write was fanned out alone, that made 25-29 puts/s
  and failed the time box. The hub now spaces fan-outs by 150 µs per synced
  watcher (at most 50 ms): a lone write still goes out at once, and writes
  committed meanwhile share the next fan-out, one response per watcher. At
  100 watchers on one member, 150 µs delivered 1.7 times the events/s of the
  earlier 50 µs with the same p50 latency (A/B, three rounds each; 3 members:
  5-14% more): a stream write costs about the same with one event or several.
- **pysyncobj's tick thread is the write pipeline.** In a cluster, Raft runs on
  one thread per member that receives, journals, syncs, sends (pickle, sealed
  with AES-GCM-SIV under the peer secret) and applies. pysyncobj's own codec
  (zlib on every message, then Fernet) took about a quarter of the leader's tick
  thread; replacing it made 3-member writes at 128 in flight 15-25% faster (A/B,
  two runs each). Traced, before that change, with 128 writes in flight on 3
  members: an append-entries round trip takes 18-21 ms (p50) at the leader,
  while a follower needs 1.2 ms from receiving it to acknowledging it; the rest
  is messages waiting for a tick thread busy with other work. The servers use
  about 145% of the 200% (the GIL is held 50-60% of the time in each member),
  and with the load generator the machine is ~90% busy (vmstat): CPU per write
  is what counts. Tried, no gain beyond run-to-run noise: applying on a thread
  of its own, a GIL switch interval of 0.05-0.2 ms, zlib level 0 on the peer
  link (level 0 still pays zlib's set-up per message). Proposals are batched
  into one log entry per tick, which made 3-member writes at 128 in flight
  15-28% faster. Measured again with apply and the leader's journal sync both
  moved to an applier thread: the leader committed 64 times a second instead of
  43, but each sync took longer with more of them running at once, and
  throughput stayed at ~1,600/s; with every sync off it was ~1,750/s. A put at
  128 in flight spends ~50 ms inside the server (about 25 in flight per member)
  and the rest of its ~78 ms in grpcio and the load generator.
- **Disk syncs on the write path.** Leader and follower each sync the journal,
  and the applying LMDB commit syncs its data pages. Unloaded an fdatasync
  takes about 0.2 ms here; under 128 writes in flight on 3 members a journal
  sync takes 1-2 ms (p50) and an LMDB commit 2.5-3.5 ms, with outliers of
  20-100 ms. With both syncs off (a test only) writes were about 20% faster.
  Traced on a sequential put through a 3-member leader: applying one put
  takes 0.7-1.2 ms there against 0.24 ms on a member alone (0.04 ms of it
  CPU), because the followers apply the same entry, and sync, at the same
  time on the same disk. Announcing the commit after the leader's apply
  instead of before left the leader's writes as they were and made writes
  sent to a follower 0.7-1 ms slower, so the order stays. Traced again in
  all three processes (1,000 sequential puts to the leader): of ~1.96 ms
  from a put's arrival to its answer, the leader's LMDB commit took ~0.64
  ms, and the same run on tmpfs took 1.32 ms. A write to keys is now
  answered before that commit (it is committed in a majority of synced
  journals by then; the member's own reads wait until it is visible):
  leader p50 2.55 -> 2.32 ms in an interleaved A/B. Batches that only write
  keys now also share one LMDB commit for up to 10 ms (the journals are their
  durable record meanwhile; a read on the member commits them first), so the
  tick thread no longer syncs LMDB after each sequential write: leader p50
  2.56 -> 2.19 ms (A/B, three rounds); puts sent to a follower and writes at
  128 in flight did not move beyond noise. Traced again after that, the
  leader's commit announcement drew a reply from each follower that told it
  nothing (an empty append-entries moves no index) and reached it while it
  answered: followers no longer send it. A stat of the term/vote file before
  every message (~30 µs right after a journal sync) and a second, failing
  recv per received message are gone too. Each of the three looked like
  ~0.1 ms in its own A/B, but one A/B of the code before and after all three
  (3 rounds) measured leader 2.19 -> 2.15 ms and followers 2.34 -> 2.31 ms:
  within the spread of ±0.2 ms per round. Each message send
  costs 40-300 µs in the servers against 18 µs between idle processes: the
  receiver it wakes runs on the sender's core (2 cores, 3 members and the
  load generator). LMDB's per-commit sync stays: without it (MDB_NOSYNC) a
  power loss can leave a meta page on disk ahead of the pages it points to.
- **The GIL between a member's two busy threads.** Counted on the leader with
  perf trace for 3 s under 128 writes in flight on 3 members (2026-11-29): its
  Raft thread waited for the GIL in 5,161 futex calls totalling 0.76 s, a
  quarter of its time, and its event loop in as many totalling 0.40 s. Of the
  samples in which the leader held the GIL (py-spy --gil), 43% were grpcio's
  own code on the event loop, 24% applying entries, ~10% kvstore's request
  handling. Sequential puts to a follower with batches sharing one LMDB commit
  for 0 ms (a commit per batch), 10 ms (the setting) and 50 ms, on fresh
  clusters interleaved: p50 3.8 and 5.4 ms with 0 ms (two clusters), 2.4-3.9
  with 10 ms and 2.6-3.9 with 50 ms (five each): the setting stays; the spread
  between fresh clusters on this machine is larger than what 50 ms would gain.
- **Range lists** are read on the event loop when the range holds at most
  4,096 keys (a worker thread for more: handing every list to a thread made
  the two take turns at the GIL, 2-3 times slower), and the stored
  KeyValues go into the response unparsed. What remains per page is a gRPC
  call, the count of the rest of the range, and on 3 members a ReadIndex
  round (a list with limit 100 is ten rounds in a row).
- **Forwarding.** A write sent to a follower costs a hop to the leader, as in
  etcd, but each hop is Python. On 3 members the follower then need not wait
  for the commit announcement: the leader's answer to the forwarded proposal
  says how far its journal is synced, and with its own synced copy the
  follower knows the entry is on a majority. Sequential puts to a follower,
  interleaved A/B, three rounds: p50 3.12/3.05/3.27 -> 2.93/2.96/3.01 ms.
- **Linearizable reads** use ReadIndex (a heartbeat round, no log entry), as
  etcd does; a follower asks the leader over the peer link. On 3 members the
  question counts as the follower's answer for the round, so the leader
  answers at once: linearizable gets at 1 in flight on a follower went from
  1.86/2.06 to 1.41/1.75 ms p50 (A/B, two rounds), and the other follower no
  longer answers a round for each; at 128 in flight throughput did not move
  (the members' CPU is the limit there, and quicker rounds carry fewer reads).
  A round serves the reads that arrived while the one before it ran: counted
  at 128 in flight on 3 members, 3.5-5 reads a round, and each round is two
  peer messages for a follower's reads, four for the leader's, every one a
  wake-up of a tick thread. The members then spent 450-520 µs of CPU per
  linearizable get against 280-330 µs per serializable one, their tick
  threads ~45% of a core against ~2%. Holding every round back 16 ms
  gathered ~27 reads a round and raised gets at 128 in flight by ~20% (three
  interleaved rounds), but would hold reads at 16 in flight (about five per
  member) just as long. Held back 2-10 ms only while the previous round
  carried enough reads (2 or 8), neither level gained beyond the run-to-run
  spread (two rounds each): not kept.
- **Lease keep-alives** renew the leader's in-memory deadline, as in etcd, and
  write nothing to the log. `lease.keepalive` drives one stream at the first
  member's endpoint: the leader answers at once, a follower asks the leader
  over the peer link (many keep-alives per message; measured separately on 3
  members, about half the leader's rate).
"""


def targets(result: dict[str, Any]) -> list[str]:
    runs = result["runs"]
    lines = [
        "## Targets",
        "",
        "The floor column is the same ratio for the empty grpcio server (see the floor "
        "tables): where it misses the goal too, no server on grpcio meets it here.",
        "",
        "| target | kvstore/etcd | goal | | floor/etcd |",
        "|---|---|---|---|---|",
    ]
    for t in TARGETS:
        ratio = t.ratio(runs)
        if ratio is None:
            continue
        goal = f"≥ {t.bound:g}" if t.kind == "min" else f"≤ {t.bound:g} times"
        unit = "" if t.kind == "min" else " times"
        floor_ratio = t.ratio(runs, FLOOR)
        floor_cell = "—" if floor_ratio is None else f"{floor_ratio:.2f}{unit}"
        met = "met" if t.met(ratio) else "not met"
        lines.append(f"| {t.label} | {ratio:.2f}{unit} | {goal} | {met} | {floor_cell} |")
    for r in runs:
        failover = r.get("workloads", {}).get("cluster.failover", {}).get("failover_ms")
        if r["system"] == "kvstore" and isinstance(failover, int | float):
            met = "met" if failover < FAILOVER_LIMIT_MS else "not met"
            lines.append(
                f"| failover, leader killed → first write | {failover:,.0f} ms "
                f"| < 3 s | {met} | — |"
            )
    return lines


def floor(runs: list[dict[str, Any]], members: int) -> list[str]:
    """The floor's table: an empty grpcio server's figures beside both systems'."""
    found = [r for r in runs if r["system"] == FLOOR and r["members"] == members]
    if not found:
        return []
    servers = "an empty Python gRPC server" if members == 1 else "three empty Python gRPC servers"
    lines = [
        f"### The floor: {servers}",
        "",
        "`bench.floor` answers Range with one key-value of the same size and Put with a bare "
        "response, on grpc.aio with kvstore's server options and event loop (uvloop), and "
        "does nothing else: no storage, validation, auth or Raft"
        + ("" if members == 1 else "; the load is spread over three of them as over a cluster")
        + ". Driven by the same load generator, its figures are the best any server built on "
        "grpcio reaches on this machine.",
        "",
    ]
    if found[0].get("status") != "ok":
        return [*lines, f"- **{found[0].get('status')}** — {found[0].get('reason', '')}", ""]
    lines += [
        "| Workload | Figure | floor | kvstore | etcd | kvstore/floor | floor/etcd |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in found[0].get("workloads", {}):
        for key, label in FLOOR_FIGURES:
            fl, kv, etcd = (_figure(runs, s, members, name, key) for s in (FLOOR, *RATIO_OF))
            lines.append(
                f"| {name} | {label} | {_fmt(fl)} | {_fmt(kv)} | {_fmt(etcd)} | "
                f"{_ratio(kv, fl)} | {_ratio(fl, etcd)} |"
            )
    lines.append("")
    return lines


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    m, v = meta["machine"], meta["versions"]
    out = [
        "# kvstore vs etcd: bench results",
        "",
        f"- Date: {meta['date']} · mode: **{meta['mode']}** (warm-up "
        f"{meta['timing']['warmup_s']} s, measured {meta['timing']['duration_s']} s per workload)",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}; "
        f"load average before the run (1/5/15 min): {meta.get('loadavg_at_start')}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Load generator: {meta['loadgen_procs']} processes (grpc.aio, asyncio inside each), "
        "on the same machine as the servers; all traffic on 127.0.0.1.",
        "- Ratio column: kvstore ÷ etcd. For ops/s higher is better (ratio < 1: kvstore slower); "
        "for latencies and sizes lower is better (ratio > 1: kvstore slower/bigger).",
        "- Reproduce: `.venv/bin/python -m bench --quick` (or full: `python -m bench`); "
        "raw data in `bench/results/latest.json`, plot in `bench/results/latest.png`.",
        "",
        "How to read it:",
        "",
        *HOW_TO_READ,
        "",
    ]
    measured = [r for r in result["runs"] if r["system"] != FLOOR]
    sizes = sorted({r["members"] for r in measured})
    for size in sizes:
        runs = [r for r in measured if r["members"] == size]
        out.append(f"## {size} member{'s' if size > 1 else ''}")
        out.append("")
        for r in runs:
            if r.get("status") != "ok":
                out.append(f"- {r['system']}-{size}: **{r.get('status')}** — {r.get('reason', '')}")
        if any(r.get("status") != "ok" for r in runs):
            out.append("")
        out += table(runs)
        out.append("")
        out += floor(result["runs"], size)
    if {r["system"] for r in result["runs"]} >= {"kvstore", "etcd"}:
        out += targets(result)
        out.append("")
        out.append(LIMITS)
    return "\n".join(out)


def write_markdown(result: dict[str, Any], path: Path, notes: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(result) + (("\n" + notes.strip() + "\n") if notes else ""))


def failed_checks(result: dict[str, Any]) -> list[str]:
    """``system-members workload: check`` for every row whose check failed."""
    failed = []
    for r in result["runs"]:
        for name, row in r.get("workloads", {}).items():
            if row.get("ok") is False:
                failed.append(f"{r['system']}-{r['members']} {name}: {row.get('check')}")
    return failed
