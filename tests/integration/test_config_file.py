"""``--config-file`` (and ``ETCD_CONFIG_FILE``): etcd's YAML configuration file,
side by side with Debian's etcd. Given one, the other flags and ETCD_* variables
are ignored; a file that cannot be read or decoded refuses to start in etcd's
words; the TLS flags come from its ``client-transport-security`` section."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.support import Certs, Ctl, TLSServer
from tests.support.etcdctl import Etcdctl
from tests.support.procs import ServerProcess, free_port, member_argv, run_to_end, running

SYSTEMS = ["etcd", "kvstore"]


def _member_yaml(name: str, data_dir: Path, client: str, peer: str) -> str:
    return (
        f"name: '{name}'\n"
        f"data-dir: {data_dir}\n"
        f"listen-client-urls: {client}\n"
        f"advertise-client-urls: {client}\n"
        f"listen-peer-urls: {peer}\n"
        f"initial-advertise-peer-urls: {peer}\n"
        f"initial-cluster: {name}={peer}\n"
        "initial-cluster-state: 'new'\n"
        "snapshot-count: 500\n"
        "strict-reconfig-check: false\n"
        "auto-compaction-retention: '1'\n"
        "no-such-key: 12\n"
        "log-format: text\n"  # kvstore's; etcd ignores it
    )


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_member_configured_by_file_ignores_other_flags(
    system: str, how: str, tmp_path: Path
) -> None:
    port, peer_port = free_port(), free_port()
    client = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "from-file"
    config = tmp_path / "member.yml"
    config.write_text(_member_yaml("fromfile", data_dir, client, f"http://127.0.0.1:{peer_port}"))
    ignored = tmp_path / "from-flag"
    argv = [*member_argv(system), "--name", "fromflag", "--data-dir", str(ignored)]
    env = {"ETCD_SNAPSHOT_COUNT": "not a number"}  # ignored too, or it would refuse
    if how == "flag":
        argv += ["--config-file", str(config)]
    else:
        env["ETCD_CONFIG_FILE"] = str(config)
    server = ServerProcess(
        system, "fromfile", data_dir, port, argv, tmp_path / "log", extra_env=env
    )
    with running(server):
        listed = Etcdctl(client).ok("member", "list")
        Etcdctl(client).ok("put", "k", "v")
        log = server.log()
    assert ", fromfile, " in listed and client in listed
    assert data_dir.is_dir() and not ignored.exists()
    if system == "kvstore":
        assert f'loaded server configuration from "{config}"' in log
        assert "configuration key 'no-such-key' is not supported; ignored" in log


def _refusal(system: str, tmp: Path, config: Path) -> str:
    proc = run_to_end([*member_argv(system), "--config-file", str(config)], cwd=tmp)
    assert proc.returncode != 0, proc
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_config_file_that_cannot_be_used_refuses_to_start_as_in_etcd(
    system: str, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.yml"
    assert f"open {missing}: no such file or directory" in _refusal(system, tmp_path, missing)
    wrong_type = tmp_path / "type.yml"
    wrong_type.write_text("name: a\nsnapshot-count: abc\n")
    said = _refusal(system, tmp_path, wrong_type)
    assert (
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string "
        "into Go struct field configYAML.snapshot-count of type" in said
    )
    a_list = tmp_path / "list.yml"
    a_list.write_text("- name\n- a\n")
    said = _refusal(system, tmp_path, a_list)
    assert "json: cannot unmarshal array into Go value of type embed.configYAML" in said
    not_yaml = tmp_path / "broken.yml"
    not_yaml.write_text("name: [a\n")
    assert "error converting YAML to JSON: " in _refusal(system, tmp_path, not_yaml)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.yml", "list.yml", "type.yml"]


def test_client_tls_from_the_files_transport_security_section(tmp_path: Path) -> None:
    certs = Certs.make(tmp_path / "certs")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    data_dir = tmp_path / "tls"
    config = tmp_path / "tls.yml"
    config.write_text(
        f"name: tls\ndata-dir: {data_dir}\n"
        f"listen-client-urls: {url}\nadvertise-client-urls: {url}\n"
        "log-format: text\n"
        "client-transport-security:\n"
        f"  cert-file: {certs.path('server.crt')}\n"
        f"  key-file: {certs.path('server.key')}\n"
        f"  trusted-ca-file: {certs.path('ca.crt')}\n"
        "  client-cert-auth: true\n"
    )
    argv = [*member_argv("kvstore"), "--config-file", str(config)]
    server = TLSServer("kvstore", "tls", data_dir, port, argv, tmp_path / "log", certs=certs)
    with running(server):
        Ctl(url, certs=certs).ok("put", "k", "v")
        # the section's client-cert-auth: a client without a certificate is refused
        refused = Ctl(url, certs=certs, client=None).run(
            "--dial-timeout=1s", "--command-timeout=2s", "get", "k"
        )
        assert refused.returncode != 0
