"""kvstore vs etcd, side by side: ``python -m bench`` (see bench/README in RESULTS.md)."""
