"""Regenerate the Python modules for protos/ into kvstore/pb/.

Usage: python protos/generate.py [OUTPUT_ROOT]

OUTPUT_ROOT defaults to the repository root; tests pass a temporary directory
and compare the result with the committed files to catch stale code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PROTO_FILES = ["kv.proto", "auth.proto", "rpc.proto", "command.proto"]
WITH_SERVICES = {"rpc.proto"}


def generate(out_root: Path) -> None:
    (out_root / "kvstore" / "pb").mkdir(parents=True, exist_ok=True)
    for name in PROTO_FILES:
        rel = f"kvstore/pb/{name}"
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={out_root}",
            f"--pyi_out={out_root}",
        ]
        if name in WITH_SERVICES:
            plugin = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
            args += [
                f"--grpc_python_out={out_root}",
                f"--plugin=protoc-gen-mypy_grpc={plugin}",
                f"--mypy_grpc_out={out_root}",
            ]
        args.append(rel)
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {rel}")


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT.parent
    generate(root)
