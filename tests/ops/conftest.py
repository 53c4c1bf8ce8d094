"""Operations: overlapping runs, a spent rate budget, secrets, TLS and the state file, proven with
`python -m mlconnector ...` child processes against the sandbox (DESIGN.md §5–6)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from pathlib import Path

import pytest

from mlconnector.sandbox import DATA_DIR
from mlconnector.sandbox._server import Fault

PAIR = "sage300-procore"
ALL_STREAMS = ("vendors", "purchase_orders", "po_invoices")


class Slow(Fault):
    """Answer the next ``count`` requests under ``path_prefix`` after ``seconds``."""

    def __init__(self, path_prefix: str, seconds: float, *, count: int = 1_000) -> None:
        super().__init__(path_prefix, count=count)
        self.seconds = seconds
        self.arrived = threading.Event()

    def before(self, request):
        self.arrived.set()
        time.sleep(self.seconds)
        return None


def all_streams(sandbox, workdir) -> None:
    """Configure every stream and import the sandbox's mapping tables (library calls: quick)."""
    from mlconnector.mappings import import_mappings

    sandbox.procore.set_rate_limits(spike=100_000, hourly=1_000_000)
    workdir.write_config(sandbox.config_yaml(workdir.state_path, ALL_STREAMS))
    for name in ("projects.csv", "costcodes.csv"):
        import_mappings(workdir.config(), DATA_DIR / name, offline=True)


def origins(items) -> list[str]:
    return [i["origin_id"] for i in items if i.get("origin_id")]


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it: (ca.pem, server.pem with key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(hours=1), not_valid_after=now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlconnector throwaway test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"])
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_path, server_path = directory / "ca.pem", directory / "server.pem"
    ca_path.write_bytes(ca.public_bytes(pem))
    server_path.write_bytes(cert.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca_path, server_path


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    certs = tmp_path / "certs"
    certs.mkdir()
    return make_ca_and_server_cert(certs)


@pytest.fixture
def server_tls(tls_files) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files[1])
    return context
