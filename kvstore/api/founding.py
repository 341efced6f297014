"""The cluster a data dir was created for.

As etcd does, a member whose data dir exists ignores ``--initial-cluster`` and
``--initial-cluster-state``: what it was first started with is recorded in the
data dir (``member/cluster.json``) and used on every later start. The flags
matter in three places, and a changed flag must not change any of them:

- the peers pysyncobj starts from before its snapshot and journal replay
  (a member listed there counts as a voter in this member's quorum);
- the member list, which merges the founding members with the replicated
  records;
- the cluster ID, computed from the founding members.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

from kvstore.config import ClusterConfig, PeerConfig
from kvstore.errors import KvError
from kvstore.fsync import fsync_path

logger = logging.getLogger(__name__)

RECORD = Path("member") / "cluster.json"
#: the Raft journal of a member with peers (``RaftSettings.data_dir``)
JOURNAL = Path("member") / "raft" / "journal"


def settle(data_dir: Path, cluster: ClusterConfig | None, applied: int) -> ClusterConfig | None:
    """``cluster`` as the data dir was first started with; recorded now if
    this is the first start (``applied``: the store's applied index). A data
    dir created for a member with peers cannot be started without them (it
    would go on without Raft), nor one created without peers with them (its applied
    index counts a log the cluster never had)."""
    path = data_dir / RECORD
    try:
        raw = path.read_text()
    except FileNotFoundError:
        if cluster is not None:
            if applied > 0 and not (data_dir / JOURNAL).exists():
                raise KvError(
                    "kvstore: the data dir belongs to a member without peers and cannot "
                    "form or join a cluster; save a snapshot of it and restore that "
                    "with --initial-cluster (kvctl snapshot restore)"
                ) from None
            _record(path, cluster)
        return cluster
    try:
        saved = json.loads(raw)
        peers = tuple(PeerConfig(name, url) for name, url in saved["initial_cluster"])
        state = str(saved["initial_cluster_state"])
    except (ValueError, KeyError, TypeError) as exc:
        raise KvError(f"kvstore: {path} is not a cluster record ({exc})") from exc
    if cluster is None:
        raise KvError(
            f"kvstore: the data dir belongs to a member of a cluster ({path}): "
            "start it with --initial-cluster and its peer flags"
        )
    if peers != cluster.initial_cluster or state != cluster.initial_cluster_state:
        logger.warning(
            "the data dir exists: --initial-cluster and --initial-cluster-state are "
            "ignored; it was created with initial_cluster=%s state=%s",
            ",".join(f"{p.name}={p.peer_url}" for p in peers),
            state,
        )
    return dataclasses.replace(cluster, initial_cluster=peers, initial_cluster_state=state)


def _record(path: Path, cluster: ClusterConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {
            "initial_cluster": [[p.name, p.peer_url] for p in cluster.initial_cluster],
            "initial_cluster_state": cluster.initial_cluster_state,
        }
    )
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_path(str(path.parent))
