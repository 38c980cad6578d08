"""Everything a running Quartermaster holds open, built from the configuration in one place.

``serve`` and the administrative commands (``grants``, ``audit``, ``approvals`` ...) open the
same services, so that the CLI acts on exactly the state the server uses.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .._clock import Clock, SystemClock
from ..approval import ApprovalSeal, ApprovalService
from ..audit import SECRET_USED, AuditEvent, Ed25519Signer, Ledger
from ..broker import Broker, KeyRing, RevocationList, derive_wrapping_key, private_key_bytes
from ..config import LoadedConfig, QuartermasterConfig
from ..credentials import LeaseRequest, Leases, build_sources
from ..httptools import HttpToolExecutor
from ..pinning import PinKeeper
from ..policy import PolicyEngine
from ..redaction import Redactor
from ..stages import SecretsInPlay
from ..store import LeaseRecord, Store, open_store
from ..vault import MasterKey, SecretUse, SecretValue, Vault, key_spellings, load_master_key

AUDIT_KEY_LIFETIME = 10 * 365 * 24 * 3600.0
"""Checkpoint keys are kept (for verification) far longer than any grant key."""


CONSOLE_LOGIN_KEY = "console login"
"""The label of the key that signs a console login's state (``derive_key``)."""

DERIVED_KEYS = ("audit hmac", "request state", CONSOLE_LOGIN_KEY)
"""The labels :func:`derive_key` is called with (each a key the redactor must know)."""


def derive_key(master: MasterKey, label: str) -> bytes:
    """A 32-byte key for one purpose, derived from the master key (HKDF-SHA256)."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"quartermaster {label} v1".encode()
    )
    return hkdf.derive(master.reveal())


@dataclass
class Services:
    """The open services of one Quartermaster process."""

    loaded: LoadedConfig
    clock: Clock
    master_key: MasterKey
    store: Store
    grant_keys: KeyRing
    agent_keys: KeyRing
    audit_keys: KeyRing
    ledger: Ledger
    vault: Vault
    broker: Broker
    engine: PolicyEngine
    approvals: ApprovalService
    http: dict[str, HttpToolExecutor]
    leases: Leases
    held: tuple[str, ...] = ()
    """Secrets this process holds for itself (the master key in every spelling, the keys
    derived from it, the store password), as text; see :meth:`own_secrets`."""

    @cached_property
    def redactor(self) -> Redactor:
        """The redactor, built on first use: compiling its rules takes about two seconds, which
        administrative commands that never redact should not pay."""
        return Redactor(self.config.redaction, clock=self.clock)

    @cached_property
    def secrets(self) -> SecretsInPlay:
        """The vault's values, compiled for redaction and argument screening."""
        return SecretsInPlay(self.vault, self.redactor, clock=self.clock, own=self.own_secrets)

    def own_secrets(self) -> list[str]:
        """Every secret Quartermaster itself holds, as the redactor must know it: what
        ``held`` lists plus the private halves of the signing keys now in use (which rotate)."""
        values = list(self.held)
        for ring in (self.grant_keys, self.agent_keys, self.audit_keys):
            values.extend(key_spellings(private_key_bytes(ring.current.private_key)))
        return values

    @cached_property
    def pins(self) -> PinKeeper:
        """The pinned definitions of downstream tools, prompts and resource templates."""
        return PinKeeper(self.store.pins, self.ledger, self.clock)

    @property
    def config(self) -> QuartermasterConfig:
        """The validated configuration."""
        return self.loaded.config


class _LedgerUseRecorder:
    """Records each use of a secret in the audit ledger (which secret, for whom; no value)."""

    def __init__(self) -> None:
        self.ledger: Ledger | None = None

    async def record_secret_use(self, use: SecretUse) -> None:
        if self.ledger is None:
            raise RuntimeError("the ledger is not open yet")
        await self.ledger.record_event(
            AuditEvent(
                kind=SECRET_USED,
                tenant=use.tenant,
                tool=use.users[0] if use.users else None,
                detail={
                    "handle": use.handle,
                    "source_tenant": use.source_tenant,
                    "users": list(use.users),
                    "purpose": use.purpose,
                },
            )
        )


class _LedgerLeaseEvents:
    """Records lease events in the audit ledger (ids, scope and times; never a value)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def lease_event(self, kind: str, record: LeaseRecord, detail: Mapping[str, Any]) -> None:
        await self._ledger.record_event(
            AuditEvent(
                kind=kind,
                run_id=record.run_id,
                agent=record.agent,
                tenant=record.tenant,
                tool=record.tool,
                detail={
                    "lease_id": record.lease_id,
                    "source": record.source,
                    "source_kind": record.kind,
                    "scope": record.scope,
                    "target": record.target,
                    "issued_at": record.issued_at,
                    "expires_at": record.expires_at,
                    "state": record.state,
                    **detail,
                },
            )
        )


def policy_engine(config: QuartermasterConfig) -> PolicyEngine:
    """The policy engine of ``config`` (at start and at every reload)."""
    return PolicyEngine(config.policy, max_ttl=int(config.broker.max_ttl))


def client_confirms_step_up(config: QuartermasterConfig) -> bool:
    """Whether the caller's own client may confirm a plain step-up (``step_up: {via: client}``)."""
    return config.approval.step_up.via == "client"


@asynccontextmanager
async def open_services(
    loaded: LoadedConfig,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    with_http: bool = True,
) -> AsyncIterator[Services]:
    """Open every service the configuration describes; close them all on exit.

    Raises:
        MasterKeyMissing / MasterKeyInvalid / WrongMasterKey: the vault master key is absent,
            malformed, or not the one the database was encrypted with.
        StoreUnavailable / SchemaVersionError: the store cannot be opened.
    """
    config = loaded.config
    env = os.environ if environ is None else environ
    clock = clock or SystemClock()
    master = load_master_key(config.vault, env, base_dir=loaded.base_dir)
    async with AsyncExitStack() as stack:
        store = await open_store(config.store, base_dir=loaded.base_dir)
        stack.push_async_callback(store.close)
        # The vault first: a wrong master key is then named as such ("encrypted with master key
        # X, you gave Y") before anything tries to unwrap a signing key with it.
        recorder = _LedgerUseRecorder()
        vault = await Vault.open(
            store.secrets, master, config.vault, clock=clock, recorder=recorder, environ=env
        )
        wrapping = derive_wrapping_key(master.reveal())
        retire_after = config.broker.key_retire_after
        grant_keys = KeyRing(
            store.keys,
            wrapping,
            clock=clock,
            retire_after=retire_after,
            algorithm=config.broker.algorithm,
            purpose="grant",
        )
        agent_ttl = config.identity.agent_tokens.max_ttl + config.broker.clock_skew
        agent_keys = KeyRing(
            store.keys, wrapping, clock=clock, retire_after=agent_ttl, purpose="agent"
        )
        audit_keys = KeyRing(
            store.keys, wrapping, clock=clock, retire_after=AUDIT_KEY_LIFETIME, purpose="audit"
        )
        for ring in (grant_keys, agent_keys, audit_keys):
            await ring.load()
        signing = audit_keys.current
        if not isinstance(signing.private_key, Ed25519PrivateKey):
            raise TypeError("audit checkpoints are signed with Ed25519 keys only")
        signer = Ed25519Signer(signing.kid, signing.private_key)
        ledger = await stack.enter_async_context(
            Ledger(
                store.ledger,
                hmac_key=derive_key(master, "audit hmac"),
                clock=clock,
                signer=signer,
                checkpoint_every=config.audit.checkpoint_every,
                checkpoint_interval=config.audit.checkpoint_interval,
            )
        )
        recorder.ledger = ledger
        held = [*master.spellings(), *key_spellings(master.data_key), *key_spellings(wrapping)]
        for label in DERIVED_KEYS:
            held.extend(key_spellings(derive_key(master, label)))
        if env.get("PGPASSWORD"):  # libpq reads it for the store
            held.append(env["PGPASSWORD"])
        http: dict[str, HttpToolExecutor] = {}
        if with_http:
            for name, system in config.systems.items():
                http[name] = await stack.enter_async_context(HttpToolExecutor(name, system))

        async def resolve_static(handle: str, request: LeaseRequest) -> SecretValue:
            users = tuple(u for u in (request.tool, request.server) if u)
            return await vault.resolve(
                handle,
                tenant=request.tenant,
                purpose=f"run {request.run_id} {request.tool or request.server}",
                users=users,
            )

        async def resolve_own(handle: str, source: str) -> SecretValue:
            return await vault.resolve(
                handle, tenant="*", purpose=f"credential source {source}", users=(source,)
            )

        sources = await stack.enter_async_context(
            build_sources(
                config.credentials,
                resolve_static=resolve_static,
                resolve_own=resolve_own,
                clock=clock,
            )
        )
        leases = Leases(store.leases, sources, clock=clock, events=_LedgerLeaseEvents(ledger))
        yield Services(
            loaded=loaded,
            clock=clock,
            master_key=master,
            store=store,
            grant_keys=grant_keys,
            agent_keys=agent_keys,
            audit_keys=audit_keys,
            ledger=ledger,
            vault=vault,
            broker=Broker(
                keys=grant_keys,
                grants=store.grants,
                config=config.broker,
                clock=clock,
                revocations=RevocationList(store.ledger, ledger.record_event, clock),
            ),
            engine=policy_engine(config),
            approvals=ApprovalService(
                store.approvals,
                clock,
                groups=config.policy.groups,
                client_step_up=client_confirms_step_up(config),
                seal=ApprovalSeal(derive_key(master, "approval seal"), store.ledger),
            ),
            http=http,
            leases=leases,
            held=tuple(held),
        )
