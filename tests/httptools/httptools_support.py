"""Builders shared by the HTTP tools tests."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from quartermaster.config._http import HttpSystemConfig


class Plain:
    """A test secret: masked when shown, its value only through ``reveal``."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Plain(***)"


def system(base_url: str, tools: dict[str, Any], **settings: Any) -> HttpSystemConfig:
    """A loopback system (private addresses allowed) with these tools and settings."""
    return HttpSystemConfig.model_validate(
        {
            "base_url": base_url,
            "allow_private": True,
            "auth": {"kind": "none"},
            "tools": tools,
            **settings,
        }
    )


def tool(method: str, path: str, properties: dict[str, Any] | None = None, **extra: Any) -> Any:
    """A tool declaration whose properties are all required unless ``required`` is given."""
    properties = properties or {}
    required = extra.pop("required", list(properties))
    return {
        "description": f"{method} {path}",
        "method": method,
        "path": path,
        "risk": extra.pop("risk", "read" if method in ("GET", "HEAD") else "write"),
        "input_schema": {"type": "object", "properties": properties, "required": required},
        **extra,
    }


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A fresh CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("httptools test CA"))
        .issuer_name(name("httptools test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths
