"""Grant minting and verification against plain PyJWT with the same Ed25519 key.

Run from the repository root:

    PYTHONPATH=src .venv/bin/python bench/grants_bench.py [--count 20000]

Measures, in one run and on one key:
- mint: ``Broker.mint`` (claims, signing, recording in the in-memory GrantRepo);
- sign: the signing step alone (``KeyRing.sign`` of the same claims);
- verify: ``verify_grant`` with a parsed ``GrantKeySet`` (offline checks, no store);
- baseline: ``jwt.encode`` / ``jwt.decode`` of the same claims with the same key.
Prints per-operation p50/p99 and operations per second, the ratios against the baseline,
and writes the figures to ``bench/results/grants_bench.json``. Nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

from quartermaster._clock import SystemClock
from quartermaster.broker import GRANT_TYPE, Broker, KeyRing, verify_grant
from quartermaster.config._broker import BrokerConfig
from quartermaster.identity import Principal, SessionFacts, resolve_identity
from quartermaster.store import MemoryStore


def summarise(samples: list[float]) -> dict[str, float]:
    """p50/p99 in microseconds and the rate implied by the mean."""
    ordered = sorted(samples)
    return {
        "p50_us": ordered[len(ordered) // 2] * 1e6,
        "p99_us": ordered[int(len(ordered) * 0.99)] * 1e6,
        "per_second": 1 / statistics.fmean(ordered),
    }


def timed(count: int, operation: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - start)
    return samples


async def run(count: int) -> dict[str, Any]:
    clock = SystemClock()
    store = MemoryStore()
    config = BrokerConfig()
    ring = KeyRing(store.keys, b"\x07" * 32, clock=clock, retire_after=config.key_retire_after)
    await ring.load()
    broker = Broker(keys=ring, grants=store.grants, config=config, clock=clock)
    principal = Principal(
        agent="support-bot",
        tenant="acme",
        on_behalf_of="alice@example.com",
        delegation=(),
        mode="human_initiated",
        auth="agent_token",
    )
    identity = resolve_identity(principal, None, SessionFacts("sess", "run-bench"))
    digest = hashlib.sha256(b'{"ticket_id":4812}').hexdigest()

    async def mint_once() -> str:
        issued = await broker.mint(
            identity,
            audience="crm",
            tool="crm.append_note",
            action="append_note",
            target="ticket:4812",
            args_sha256=digest,
        )
        return issued.token

    for _ in range(min(1000, count)):  # warm up
        await mint_once()
    mint_samples = []
    tokens = []
    for _ in range(count):
        start = time.perf_counter()
        tokens.append(await mint_once())
        mint_samples.append(time.perf_counter() - start)

    token = tokens[-1]
    claims = json.loads(
        jwt.api_jws.decode_complete(token, options={"verify_signature": False})["payload"]
    )
    key = ring.current
    public = key.private_key.public_key()
    headers = {"kid": key.kid, "typ": GRANT_TYPE}
    keys = ring.key_set()

    sign_samples = timed(count, lambda: ring.sign(claims, GRANT_TYPE))
    verify_samples = timed(
        count, lambda: verify_grant(token, audience="crm", jwks=keys, clock=clock)
    )
    encode_samples = timed(
        count, lambda: jwt.encode(claims, key.private_key, algorithm="EdDSA", headers=headers)
    )
    decode_samples = timed(
        count,
        lambda: jwt.decode(
            token, public, algorithms=["EdDSA"], audience="crm", options={"verify_exp": True}
        ),
    )
    mint, sign, verify = summarise(mint_samples), summarise(sign_samples), summarise(verify_samples)
    encode, decode = summarise(encode_samples), summarise(decode_samples)
    return {
        "count": count,
        "token_bytes": len(token),
        "python": sys.version.split()[0],
        "pyjwt": jwt.__version__,
        "machine": platform.machine(),
        "mint": mint,
        "sign_only": sign,
        "verify": verify,
        "baseline_jwt_encode": encode,
        "baseline_jwt_decode": decode,
        "mint_p50_over_encode_p50": mint["p50_us"] / encode["p50_us"],
        "verify_p50_over_decode_p50": verify["p50_us"] / decode["p50_us"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/grants_bench.json"))
    args = parser.parse_args()
    figures = asyncio.run(run(args.count))
    print(f"{figures['count']} grants, {figures['token_bytes']} bytes each")
    print(f"{'operation':<22}{'p50 µs':>10}{'p99 µs':>10}{'per second':>14}")
    for name in ("mint", "sign_only", "baseline_jwt_encode", "verify", "baseline_jwt_decode"):
        row = figures[name]
        print(f"{name:<22}{row['p50_us']:>10.1f}{row['p99_us']:>10.1f}{row['per_second']:>14,.0f}")
    print(f"mint / jwt.encode (p50):   {figures['mint_p50_over_encode_p50']:.2f}x")
    print(f"verify / jwt.decode (p50): {figures['verify_p50_over_decode_p50']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
