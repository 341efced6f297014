"""kvstore.controllers: a small Kubernetes-style control plane on the store.

A pure client of the store (imports only :mod:`kvstore.client`). Modules that hold
data are nouns (``objects``, ``selectors``, ``resources``, ``cache``, ``rollouts``,
``expectations``, ``config``, ``errors``); modules that act are named by activity
or by the controller (``api``, ``informer``, ``workqueue``, ``controller``,
``replicaset``, ``deployment``, ``scheduler``, ``gc``, ``leaderelection``,
``manager``). See DESIGN.md next to this file.
"""

from kvstore.controllers.api import ObjectClient, ObjectList, ObjectWriter, WatchEvent
from kvstore.controllers.errors import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    InvalidError,
    NotFoundError,
)
from kvstore.controllers.objects import (
    DEPLOYMENT,
    KINDS,
    NODE,
    POD,
    REPLICA_SET,
    SERVICE,
    Kind,
    Obj,
    kind_named,
)

__all__ = [
    "DEPLOYMENT",
    "KINDS",
    "NODE",
    "POD",
    "REPLICA_SET",
    "SERVICE",
    "AlreadyExistsError",
    "ApiError",
    "ConflictError",
    "InvalidError",
    "Kind",
    "NotFoundError",
    "Obj",
    "ObjectClient",
    "ObjectList",
    "ObjectWriter",
    "WatchEvent",
    "kind_named",
]
