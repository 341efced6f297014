"""Layers import downward only (DESIGN §2)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "kvstore"

# package -> kvstore packages it must not import
FORBIDDEN = {
    "storage": {"api", "raft", "watch", "lease", "client", "cli", "controllers"},
    "raft": {"api", "client", "cli", "controllers"},
    "watch": {"api", "raft", "lease", "client", "cli", "controllers"},
    "lease": {"api", "raft", "watch", "client", "cli", "controllers"},
    "auth": {"api", "raft", "watch", "lease", "client", "cli", "controllers"},
    "client": {"api", "raft", "storage", "watch", "lease", "cli", "controllers"},
    "controllers": {"api", "raft", "storage", "watch", "lease", "cli", "agent"},
    "agent": {"api", "raft", "storage", "watch", "lease", "cli"},
}
NO_GRPC = {"storage", "auth"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_layers_import_downward_only() -> None:
    violations = []
    for layer, banned in FORBIDDEN.items():
        for path in (PKG / layer).rglob("*.py") if (PKG / layer).exists() else []:
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] == "kvstore" and len(parts) > 1 and parts[1] in banned:
                    violations.append(f"{path.relative_to(PKG)} imports {name}")
                if layer in NO_GRPC and parts[0] in {"grpc", "asyncio"}:
                    violations.append(f"{path.relative_to(PKG)} imports {name}")
    assert not violations, "\n".join(violations)
