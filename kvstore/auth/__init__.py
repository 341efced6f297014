"""etcd-compatible authentication and authorization, shared by the gRPC edge and apply.

- ``perms``     key-range permissions of users and roles, and the checks on requests
- ``passwords`` salted scrypt hashes (computed at the edge, never in apply)
- ``tokens``    simple tokens kept in memory, with a TTL renewed on use
- ``mgmt``      applying user/role/enable commands to the replicated auth store

Imports storage and pb only (never api or raft): both layers above use it.
"""
