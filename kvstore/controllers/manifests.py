"""Manifests: YAML or JSON documents (one or many, ``---``-separated, or ``kind: List``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from kvstore.controllers.objects import Obj


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file and document."""


def loads(text: str, source: str = "<string>") -> list[Obj]:
    try:
        docs: list[Any] = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: {exc}") from exc
    out: list[Obj] = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc:
            raise ManifestError(f"{source}: document {i + 1} is not an object with a kind")
        if doc["kind"] == "List":
            out.extend(item for item in doc.get("items") or [] if isinstance(item, dict))
        else:
            out.append(doc)
    return out


def load_path(path: Path) -> list[Obj]:
    """Every object in a file, or in the .yaml/.yml/.json files of a directory (sorted)."""
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
        )
        return [obj for f in files for obj in loads(f.read_text(), str(f))]
    return loads(path.read_text(), str(path))
