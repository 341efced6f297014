"""``cluster.sh start --tls``: a throwaway CA, https members with mutual TLS."""

from __future__ import annotations

from pathlib import Path

from tests.scripts.test_cluster_sh import _free_base, run
from tests.security.support import Ctl
from tests.support.procs import wait_until


def test_cluster_sh_start_tls(tmp_path: Path) -> None:
    base = _free_base()
    try:
        started = run(tmp_path, "start", "3", "--base-port", str(base), "--tls")
        assert started.returncode == 0, started.stdout + started.stderr
        tls = tmp_path / "cluster" / "tls"
        for name in ("ca", "server", "peer", "client"):
            assert (tls / f"{name}.crt").is_file() and (tls / f"{name}.key").is_file()
        assert (tls / "client.key").stat().st_mode & 0o077 == 0
        assert "--cacert" in started.stdout
        url = f"https://127.0.0.1:{base}"
        ctl = Ctl(url, certs=None)
        argv = [f"--cacert={tls / 'ca.crt'}", f"--cert={tls / 'client.crt'}"]
        argv.append(f"--key={tls / 'client.key'}")
        ctl.ok(*argv, "put", "hello", "world")
        assert ctl.ok(*argv, "get", "hello", "--print-value-only").strip() == "world"
        assert ctl.run("--dial-timeout=1s", "--command-timeout=2s", "get", "hello").returncode
        status = run(tmp_path, "status")
        assert status.returncode == 0 and "*" in status.stdout

        # the agents reach the store with the client certificate: their Nodes appear
        def nodes_registered() -> bool:
            out = ctl.ok(*argv, "get", "/registry/nodes/", "--prefix", "--keys-only")
            return len([line for line in out.splitlines() if line.strip()]) == 3

        wait_until(nodes_registered, timeout=60)
    finally:
        run(tmp_path, "clean")
