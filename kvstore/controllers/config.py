"""Settings of the control plane, grouped by component; built once, passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from kvstore.controllers.connect import StoreConnection


@dataclass(frozen=True)
class InformerConfig:
    resync_period: float = 30.0
    """Every this many seconds each cached object is handed to the handlers again."""
    backoff_initial: float = 0.2
    """First wait after a failed list/watch; doubled per failure, with jitter."""
    backoff_max: float = 10.0
    """Longest wait between list/watch attempts."""
    page_size: int = 500
    """Objects per page when listing."""


@dataclass(frozen=True)
class QueueConfig:
    base_delay: float = 0.005
    """First retry delay of a failing key; doubled per consecutive failure."""
    max_delay: float = 60.0
    """Longest retry delay of a failing key."""


@dataclass(frozen=True)
class ControllerConfig:
    workers: int = 2
    """Reconcile workers per controller (a key is never processed by two at once)."""
    burst_replicas: int = 500
    """Most pods a ReplicaSet creates or deletes in one reconcile."""
    expectations_timeout: float = 30.0
    """After this long, unmet expectations are forgotten and the cache is trusted."""
    cache_sync_timeout: float = 60.0
    """How long a controller waits for its informers' first list."""
    queue: QueueConfig = field(default_factory=QueueConfig)


@dataclass(frozen=True)
class SchedulerConfig:
    workers: int = 1
    """Pods bound concurrently (1: each decision sees the previous bindings)."""
    backoff_initial: float = 0.5
    """First retry delay of an unschedulable pod."""
    backoff_max: float = 10.0
    """Longest retry delay of an unschedulable pod."""


@dataclass(frozen=True)
class LeaderElectionConfig:
    enabled: bool = True
    name: str = "/kvstore/leader-election/controller-manager"
    """Election name: candidates' keys live under ``NAME/``."""
    lease_ttl: int = 5
    """Seconds after a leader's death before another copy takes over."""
    identity: str = ""
    """This copy's proclaimed identity (default: hostname_pid)."""


@dataclass(frozen=True)
class NodeLifecycleConfig:
    monitor_period: float = 1.0
    """Seconds between two looks at every node's heartbeat."""
    grace_period: float = 40.0
    """A node whose Lease was not renewed for this long becomes ``Ready=Unknown``."""
    eviction_timeout: float = 300.0
    """Pods of a node not Ready for this long are evicted (Kubernetes' toleration)."""
    eviction_rate: float = 0.1
    """Most evictions per second (a token bucket of burst ``max(1, rate)``)."""


@dataclass(frozen=True)
class ManagerConfig:
    store: StoreConnection = field(default_factory=StoreConnection)
    controllers: tuple[str, ...] = (
        "replicaset",
        "deployment",
        "scheduler",
        "gc",
        "endpoints",
        "nodelifecycle",
    )
    informer: InformerConfig = field(default_factory=InformerConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    leader_election: LeaderElectionConfig = field(default_factory=LeaderElectionConfig)
    node_lifecycle: NodeLifecycleConfig = field(default_factory=NodeLifecycleConfig)
