"""Settings of a node agent, built once by ``kvstore agent`` and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kvstore.controllers.connect import StoreConnection


@dataclass(frozen=True)
class AgentConfig:
    node_name: str
    """This agent's Node (and heartbeat Lease) name."""
    data_dir: Path
    """Container logs, process records and volumes live here."""
    store: StoreConnection = field(default_factory=StoreConnection)
    cpu: str = ""
    """Node capacity; empty means the host's CPU count."""
    memory: str = ""
    """Node capacity; empty means the host's physical memory."""
    max_pods: int = 110
    labels: tuple[tuple[str, str], ...] = ()
    heartbeat_interval: float = 2.0
    """Seconds between renewals of the node's Lease."""
    lease_duration: int = 10
    """``leaseDurationSeconds`` written in the Lease (informational)."""
    sync_interval: float = 0.2
    """Seconds between two looks of a pod worker at its processes."""
    backoff_base: float = 10.0
    """CrashLoopBackOff: the first restart delay, doubled per restart."""
    backoff_max: float = 300.0
    """CrashLoopBackOff: the longest restart delay."""
    backoff_reset: float = 600.0
    """A container that ran this long without exiting starts its back-off afresh."""
    log_port: int = 0
    """Port of the log endpoint on 127.0.0.1 (0: any free port)."""
    proxy: bool = True
    """Run the Service proxy (on one machine, only one agent binds each port)."""
    proxy_bind_retry: float = 1.0
    """Seconds between attempts to bind a Service port another agent holds."""
    stop_pods_on_exit: bool = True
    """On a graceful exit, stop every pod process (else they are re-adopted on restart)."""
    resync_period: float = 5.0
    """Informer resync: every pod is looked at again this often."""
