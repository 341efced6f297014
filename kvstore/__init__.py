"""kvstore: etcd in Python, and a small Kubernetes-style control plane on top."""

__version__ = "0.1.0"

__all__ = ["__version__"]
