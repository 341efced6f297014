"""kvstore.agent: the node agent (``kvstore agent``), a pure client of the store.

Imports only :mod:`kvstore.client` and :mod:`kvstore.controllers`. Modules that hold
data: ``config``, ``procs`` (process records); modules that act: ``agent`` (the
owner), ``node`` (registration, heartbeat), ``podworker`` (one task per pod),
``containers`` (one container's process, restarts, probes), ``probes``, ``proxy``
(Service load balancer), ``logserver``, ``volumes``, ``main`` (the CLI).
"""

from kvstore.agent.agent import NodeAgent
from kvstore.agent.config import AgentConfig

__all__ = ["AgentConfig", "NodeAgent"]
