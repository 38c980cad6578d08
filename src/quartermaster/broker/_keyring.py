"""Signing keys: generated on first start, wrapped at rest, rotated with overlap."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import anyio
import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from quartermaster._clock import Clock
from quartermaster.store import KeyRecord, KeyRepo

from ._errors import BrokerError, KeyUnwrapError
from ._keyset import SIGNING_ALGORITHMS, GrantKeySet, SigningAlgorithm, VerificationKey, public_jwk

_WRAP_VERSION = b"\x01"
_NONCE_BYTES = 12
_PURPOSE = re.compile(r"^[a-z][a-z0-9]{0,15}$")

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def derive_wrapping_key(master_key: bytes) -> bytes:
    """A 32-byte key for wrapping signing keys, derived from the vault master key.

    HKDF-SHA256 with its own ``info`` label, so the master key itself never encrypts two kinds
    of data.

    Raises:
        ValueError: when ``master_key`` is shorter than 32 bytes.
    """
    if len(master_key) < 32:
        raise ValueError("the master key must be at least 32 bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"quartermaster/key-wrap/v1")
    return hkdf.derive(master_key)


def private_key_bytes(key: PrivateKey) -> bytes:
    """The private scalar of a signing key (the JWK ``d`` member, decoded): what a leak of the
    key would have to contain, for the redactor's known values."""
    if isinstance(key, Ed25519PrivateKey):
        return key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    return key.private_numbers().private_value.to_bytes(32, "big")


def _aad(kid: str, alg: str) -> bytes:
    # Binding kid and alg means a wrapped blob cannot be moved to another key record.
    return b"quartermaster/signing-key/v1\x00" + kid.encode() + b"\x00" + alg.encode()


def _wrap(wrapping: AESGCM, kid: str, alg: str, key: PrivateKey) -> bytes:
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = os.urandom(_NONCE_BYTES)
    return _WRAP_VERSION + nonce + wrapping.encrypt(nonce, der, _aad(kid, alg))


def _unwrap(wrapping: AESGCM, record: KeyRecord) -> PrivateKey:
    blob = record.wrapped_private
    if len(blob) <= 1 + _NONCE_BYTES or blob[:1] != _WRAP_VERSION:
        raise KeyUnwrapError(f"signing key {record.kid!r} is stored in an unknown format")
    nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        der = wrapping.decrypt(nonce, sealed, _aad(record.kid, record.alg))
    except InvalidTag:
        raise KeyUnwrapError(
            f"signing key {record.kid!r} cannot be decrypted with this wrapping key: was the "
            "vault master key changed? Restore the old master key, or remove the keys to "
            "start a new key ring (grants signed by them then stop verifying)"
        ) from None
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyUnwrapError(f"signing key {record.kid!r} is not an Ed25519 or P-256 key")
    return key


def rewrap_key_records(
    records: Sequence[KeyRecord], old_wrapping_key: bytes, new_wrapping_key: bytes
) -> list[KeyRecord]:
    """The records still wrapped under the old key, re-wrapped under the new one.

    Records already under the new key are left out, so an interrupted master-key rotation can
    simply be run again. Nothing is written here; the caller stores the result.

    Raises:
        KeyUnwrapError: a record decrypts under neither key.
    """
    old_wrapping, new_wrapping = AESGCM(old_wrapping_key), AESGCM(new_wrapping_key)
    moved = []
    for record in records:
        try:
            private = _unwrap(old_wrapping, record)
        except KeyUnwrapError:
            _unwrap(new_wrapping, record)
            continue
        moved.append(
            replace(record, wrapped_private=_wrap(new_wrapping, record.kid, record.alg, private))
        )
    return moved


def _generate(alg: SigningAlgorithm) -> PrivateKey:
    return (
        Ed25519PrivateKey.generate() if alg == "EdDSA" else ec.generate_private_key(ec.SECP256R1())
    )


@dataclass(frozen=True, slots=True, repr=False)
class SigningKey:
    """A private key ready to sign, with the JOSE header it signs under."""

    kid: str
    alg: SigningAlgorithm
    private_key: PrivateKey

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        """A compact JWS of ``claims`` with header ``{alg, kid, typ}`` (PyJWT does the JOSE)."""
        return jwt.encode(
            claims, self.private_key, algorithm=self.alg, headers={"kid": self.kid, "typ": typ}
        )

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r})"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What ``quartermaster keys`` shows about one key (never the private half)."""

    kid: str
    alg: str
    state: str
    created_at: float
    retire_at: float | None
    retired_at: float | None


class KeyRing:
    """The signing keys of one purpose (``grant`` or ``agent``), persisted wrapped in a KeyRepo.

    Several rings share a repository: each owns the kids that start with ``<purpose>-``.
    ``load()`` (call it at start and from time to time; it is idempotent) creates the first key
    when none is active, retires keys whose overlap has ended, and unwraps the rest.
    ``rotate()`` makes a new active key; the old one becomes ``retiring`` and stays in the
    JWKS for ``retire_after`` seconds (the longest token life plus clock skew), so tokens it
    signed keep verifying until they expire anyway.

    Private keys are AES-256-GCM encrypted with ``wrapping_key`` (32 bytes; see
    :func:`derive_wrapping_key`), with kid and algorithm bound as associated data.
    """

    def __init__(
        self,
        repo: KeyRepo,
        wrapping_key: bytes,
        *,
        clock: Clock,
        retire_after: float,
        algorithm: SigningAlgorithm = "EdDSA",
        purpose: str = "grant",
    ) -> None:
        if len(wrapping_key) != 32:
            raise ValueError(
                "the wrapping key must be 32 bytes; derive it with "
                "derive_wrapping_key(vault_master_key)"
            )
        if algorithm not in SIGNING_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(SIGNING_ALGORITHMS)}")
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError("purpose must be a short lower-case word such as 'grant'")
        if retire_after <= 0:
            raise ValueError("retire_after must be positive")
        self._repo = repo
        self._wrapping = AESGCM(wrapping_key)
        self._clock = clock
        self._retire_after = retire_after
        self._algorithm = algorithm
        self._prefix = purpose + "-"
        self._lock = anyio.Lock()
        self._current: SigningKey | None = None
        self._verifying: dict[str, tuple[VerificationKey, dict[str, str], float | None]] = {}
        self._records: list[KeyRecord] = []
        self._key_set: GrantKeySet | None = None
        self._key_set_until: float | None = None

    @property
    def current(self) -> SigningKey:
        """The active key new tokens are signed with.

        Raises:
            BrokerError: when ``load()`` has not run yet.
        """
        if self._current is None:
            raise BrokerError("the signing key ring is not loaded; call KeyRing.load() at start")
        return self._current

    async def load(self) -> None:
        """Read the keys, create the first one if needed, retire those past their overlap.

        Raises:
            KeyUnwrapError: a key that must still sign or verify cannot be decrypted.
            StoreError: the key repository failed.
        """
        async with self._lock:
            await self._load_locked()

    async def rotate(self) -> SigningKey:
        """Make a new active key; the previous active key starts retiring.

        Raises:
            KeyUnwrapError: a remaining key cannot be decrypted.
            StoreError: the key repository failed.
        """
        async with self._lock:
            now = self._clock.now()
            for record in await self._own_records():
                if record.state == "active":
                    await self._repo.set_state(record.kid, "retiring", now)
            await self._create(now)
            await self._load_locked()
            return self.current

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        """Sign ``claims`` with the active key under header ``typ``.

        Raises:
            BrokerError: when ``load()`` has not run yet.
        """
        return self.current.sign(claims, typ)

    def verification_key(self, kid: str) -> VerificationKey | None:
        """The active or still-retiring public key named ``kid``, or ``None``."""
        return self.key_set().get(kid)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWKS: active and retiring keys with ``kid``, ``alg``, ``use: sig``."""
        now = self._clock.now()
        return {
            "keys": [
                jwk
                for _, jwk, retire_at in self._verifying.values()
                if retire_at is None or now < retire_at
            ]
        }

    def key_set(self) -> GrantKeySet:
        """The verification keys as a :class:`GrantKeySet`, rebuilt when an overlap ends."""
        now = self._clock.now()
        if self._key_set is None or (
            self._key_set_until is not None and now >= self._key_set_until
        ):
            live = {
                kid: key
                for kid, (key, _, retire_at) in self._verifying.items()
                if retire_at is None or now < retire_at
            }
            deadlines = [r for _, _, r in self._verifying.values() if r is not None and now < r]
            self._key_set = GrantKeySet(live)
            self._key_set_until = min(deadlines, default=None)
        return self._key_set

    def ed25519_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The live Ed25519 public keys by kid: what ``audit.verify`` checks checkpoints with
        (the audit ring signs them with Ed25519 only)."""
        keys = self.key_set()
        found: dict[str, Ed25519PublicKey] = {}
        for kid in keys.kids:
            key = keys.get(kid)
            if key is not None and isinstance(key.public_key, Ed25519PublicKey):
                found[kid] = key.public_key
        return found

    def describe(self) -> list[KeyInfo]:
        """Every key of this ring as last loaded, oldest first (no private material)."""
        return [
            KeyInfo(
                kid=r.kid,
                alg=r.alg,
                state=r.state,
                created_at=r.created_at,
                retire_at=self._verifying[r.kid][2] if r.kid in self._verifying else None,
                retired_at=r.retired_at,
            )
            for r in self._records
        ]

    async def _own_records(self) -> list[KeyRecord]:
        return [r for r in await self._repo.list() if r.kid.startswith(self._prefix)]

    def _new_record(self, now: float) -> KeyRecord:
        kid = self._prefix + secrets.token_urlsafe(12)
        key = _generate(self._algorithm)
        jwk = public_jwk(kid, self._algorithm, key.public_key())
        return KeyRecord(
            kid=kid,
            alg=self._algorithm,
            wrapped_private=_wrap(self._wrapping, kid, self._algorithm, key),
            public_jwk=json.dumps(jwk, sort_keys=True),
            created_at=now,
            state="active",
            retired_at=None,
        )

    async def _create(self, now: float) -> None:
        await self._repo.put(self._new_record(now))

    async def _load_locked(self) -> None:
        now = self._clock.now()
        records = await self._own_records()
        active = [r for r in records if r.state == "active"]
        if not active:
            # Replicas starting together on an empty store race here: the store keeps the
            # first key under a cross-process lock, so they all end up signing with one key
            # (a key only some replicas know would make the others refuse its tokens).
            await self._repo.put_first(self._new_record(now), self._prefix)
            records = await self._own_records()
            active = [r for r in records if r.state == "active"]
        newest = max(active, key=lambda r: (r.created_at, r.kid))
        # Replicas rotating at once may each make a key; all agree the newest one wins.
        for record in active:
            if record is not newest:
                await self._repo.set_state(record.kid, "retiring", now)
        records = await self._own_records()
        verifying: dict[str, tuple[VerificationKey, dict[str, str], float | None]] = {}
        current: SigningKey | None = None
        for record in records:
            if record.state == "retired":
                continue
            retire_at = None
            if record.state == "retiring":
                retire_at = self._retiring_since(record, records) + self._retire_after
                if now >= retire_at:
                    await self._repo.set_state(record.kid, "retired", now)
                    continue
            private = _unwrap(self._wrapping, record)
            alg = _algorithm_of(record)
            verifying[record.kid] = (
                VerificationKey(record.kid, alg, private.public_key()),
                public_jwk(record.kid, alg, private.public_key()),
                retire_at,
            )
            if record.kid == newest.kid:
                current = SigningKey(record.kid, alg, private)
        self._records = await self._own_records()
        self._verifying = verifying
        self._current = current
        self._key_set = None

    @staticmethod
    def _retiring_since(record: KeyRecord, records: list[KeyRecord]) -> float:
        # The store keeps no "retiring since" time; a key starts retiring when its successor
        # is created, so the next newer key's creation time is that moment.
        later = [
            r.created_at for r in records if (r.created_at, r.kid) > (record.created_at, record.kid)
        ]
        return min(later, default=record.created_at)


def _algorithm_of(record: KeyRecord) -> SigningAlgorithm:
    for alg in SIGNING_ALGORITHMS:
        if record.alg == alg:
            return alg
    raise KeyUnwrapError(f"signing key {record.kid!r} uses unsupported algorithm {record.alg!r}")
