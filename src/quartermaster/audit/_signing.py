"""Who signs checkpoints: a Protocol, and a plain Ed25519 implementation."""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class CheckpointSigner(Protocol):
    """Signs checkpoint statements with an Ed25519 key named ``kid``.

    Implementations keep the private key to themselves (the broker's key ring, an HSM);
    verification needs only the public key for ``kid``.
    """

    @property
    def kid(self) -> str:
        """The id of the key that ``sign`` uses."""
        ...

    def sign(self, data: bytes) -> bytes:
        """An Ed25519 signature of ``data``."""
        ...


class Ed25519Signer:
    """A ``CheckpointSigner`` over an in-process Ed25519 private key."""

    def __init__(self, kid: str, private_key: Ed25519PrivateKey) -> None:
        self._kid = kid
        self._key = private_key

    def __repr__(self) -> str:
        return f"Ed25519Signer(kid={self._kid!r})"

    @property
    def kid(self) -> str:
        """The key id."""
        return self._kid

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``."""
        return self._key.sign(data)

    def public_key(self) -> Ed25519PublicKey:
        """The public half, for ``verify``."""
        return self._key.public_key()
