"""kvctl, the etcdctl-like command line (``kvstore.cli.main:main``).

Modules: ``main`` (global flags, session, error handling), ``output`` (the four
formats), ``keys`` (get/put/del/watch/compaction), ``txn``, ``leases``, ``cluster``
(member/endpoint/move-leader/defrag/alarm), ``snapshot`` (save/status/restore),
``explore`` (history/diff/tree/top).
"""
