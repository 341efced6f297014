"""The control plane connects with a client certificate to a mutual-TLS store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

from kvstore.client import Client
from kvstore.controllers.api import ObjectClient
from kvstore.controllers.manifests import loads
from kvstore.controllers.objects import REPLICA_SET
from tests.controllers.conftest import eventually
from tests.controllers.test_e2e import NGINX
from tests.security.support import Certs, tls_member
from tests.support.procs import REPO_ROOT


def _spawn(args: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "kvstore", *args]
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)


@pytest.mark.timeout(120)
async def test_controller_manager_uses_a_client_certificate(tmp_path: Path) -> None:
    certs = Certs.make(tmp_path / "tls")
    with tls_member(tmp_path, certs) as server:
        tls = ["--cacert", certs.path("ca.crt"), "--cert", certs.path("client.crt"),
               "--key", certs.path("client.key")]  # fmt: skip
        log = (tmp_path / "cm.log").open("ab")
        proc = _spawn(
            ["controller-manager", "--endpoints", server.endpoint, *tls,
             "--leader-elect-lease-duration", "2"], log,
        )  # fmt: skip
        try:
            async with Client(
                [server.endpoint],
                ca_cert=certs.path("ca.crt"),
                cert=certs.path("client.crt"),
                key=certs.path("client.key"),
            ) as client:
                api = ObjectClient(client)
                [deployment] = loads(NGINX)
                await api.create(deployment)

                async def replicaset_created() -> bool:
                    return bool((await api.list(REPLICA_SET, "default")).items)

                # only a controller-manager that got through mutual TLS can act
                await eventually(replicaset_created, 30)
            assert proc.poll() is None, (tmp_path / "cm.log").read_text()[-2000:]
        finally:
            proc.kill()
            proc.wait(15)
            log.close()


def test_a_certificate_without_its_key_is_a_usage_error(tmp_path: Path) -> None:
    certs = Certs.make(tmp_path / "tls")
    with tls_member(tmp_path, certs) as server:
        result = subprocess.run(
            [sys.executable, "-m", "kvstore", "controller-manager", "--endpoints",
             server.endpoint, "--cacert", certs.path("ca.crt"), "--cert", certs.path("client.crt")],
            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False,
        )  # fmt: skip
        assert result.returncode != 0
        assert "--cert and --key go together" in result.stderr
