"""Throwaway TLS material for local clusters and tests: ``python -m kvstore.tlsgen DIR``.

Writes into DIR (0600 keys):

- ``ca.crt`` / ``ca.key``           a fresh self-signed CA (ECDSA P-256, 1 year)
- ``server.crt`` / ``server.key``   client-facing certificate (serverAuth)
- ``peer.crt`` / ``peer.key``       peer certificate (serverAuth and clientAuth)
- ``client.crt`` / ``client.key``   client certificate with CN ``root``
- ``NAME.crt`` / ``NAME.key``       one client certificate per ``--client NAME`` (CN NAME)

Server and peer certificates name 127.0.0.1, ::1 and localhost, plus every
``--host``. Never use these for anything but local testing.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "::1", "localhost")
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kvstore throwaway"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _write(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = directory / f"{stem}.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def make_ca(cn: str = "kvstore throwaway CA") -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(cert, key)


def make_cert(
    issuer: Issuer,
    cn: str,
    *,
    server: bool,
    client: bool,
    hosts: tuple[str, ...] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer.key, hashes.SHA256()), key


def generate(directory: Path, clients: tuple[str, ...] = (), hosts: tuple[str, ...] = ()) -> Issuer:
    """Write a CA and server, peer and client certificates into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    all_hosts = tuple(dict.fromkeys((*DEFAULT_HOSTS, *hosts)))
    ca = make_ca()
    _write(directory, "ca", ca.cert, ca.key)
    _write(
        directory,
        "server",
        *make_cert(ca, "kvstore server", server=True, client=False, hosts=all_hosts),
    )
    _write(
        directory, "peer", *make_cert(ca, "kvstore peer", server=True, client=True, hosts=all_hosts)
    )
    _write(directory, "client", *make_cert(ca, "root", server=False, client=True))
    for name in clients:
        _write(directory, name, *make_cert(ca, name, server=False, client=True))
    return ca


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kvstore.tlsgen", description=__doc__.split("\n")[0])
    p.add_argument("directory", type=Path)
    p.add_argument("--client", action="append", default=[], help="extra client certificate CN")
    p.add_argument("--host", action="append", default=[], help="extra server/peer host name or IP")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    generate(args.directory, tuple(args.client), tuple(args.host))
    print(f"wrote a throwaway CA and certificates to {args.directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
