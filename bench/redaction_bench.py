"""Redaction figures: corpus recall and precision, throughput, latency, fallback baseline.

Run from the repository root:

    PYTHONPATH=src .venv/bin/python bench/redaction_bench.py [--mix-mb 10] [--quick]

Reads the labelled corpus from ../shared/corpora (next to the repository), prints the figures,
writes them to bench/results/redaction-<time>.json and ends with the summary line.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import itertools
import json
import os
import random
import re
import statistics
import string
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from quartermaster.config._redaction import RedactionConfig
from quartermaster.redaction import Redactor

ROOT = Path(__file__).resolve().parents[1]
# The generated cases (invented vendors, composed key names) live with the tests.
sys.path.insert(0, str(ROOT / "tests" / "redaction"))
_cases: Any = importlib.import_module("secret_cases").cases

# The corpus sits in ../shared/corpora next to the repository, or next to the directory of
# worktrees (wt/NAME) a checkout may live in.
CORPUS = next(
    (
        d / "shared" / "corpora" / "redaction-dev.jsonl"
        for d in ROOT.parents
        if (d / "shared" / "corpora" / "redaction-dev.jsonl").exists()
    ),
    ROOT.parent / "shared" / "corpora" / "redaction-dev.jsonl",
)
RESULTS = ROOT / "bench" / "results"
DOC = 16 * 1024


def removed_strict(secret: str, out: str) -> bool:
    """No run of min(len, 12) consecutive characters of ``secret`` survives in ``out``."""
    n = min(len(secret), 12)
    return not any(secret[i : i + n] in out for i in range(len(secret) - n + 1))


def corpus_figures(redactor: Redactor, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-category recall (strict, lenient, records all removed) and negatives unchanged."""
    pos: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])  # n, strict, lenient, recs, ok
    neg: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    stream = [0, 0]
    misses: list[str] = []
    for rec in records:
        known = redactor.known(rec.get("known_secrets") or [])
        out = redactor.session(known).text(rec["text"])
        cat = rec["category"]
        if rec["label"] == "negative":
            neg[cat][0] += 1
            neg[cat][1] += out == rec["text"]
            continue
        row = pos[cat]
        ok = True
        for secret in rec["secrets"]:
            row[0] += 1
            strict = removed_strict(secret, out)
            row[1] += strict
            row[2] += secret not in out
            ok &= strict
            if not strict:
                misses.append(f"{rec['id']} {cat} {rec.get('provider')}")
        row[3] += 1
        row[4] += ok
        if rec.get("split_at"):
            cuts = [0, *rec["split_at"], len(rec["text"])]
            sr = redactor.session(known).stream()
            streamed = "".join(sr.feed(rec["text"][a:b]) for a, b in itertools.pairwise(cuts))
            streamed += sr.flush()
            stream[0] += 1
            stream[1] += all(removed_strict(s, streamed) for s in rec["secrets"])
    total = [sum(r[i] for r in pos.values()) for i in range(5)]
    negs = [sum(r[i] for r in neg.values()) for i in range(2)]
    return {
        "positives": {
            c: {
                "secrets": r[0],
                "recall_strict": r[1] / r[0],
                "recall_lenient": r[2] / r[0],
                "records_all_removed": r[4] / r[3],
            }
            for c, r in sorted(pos.items())
        },
        "negatives": {
            c: {"records": r[0], "unchanged": r[1] / r[0]} for c, r in sorted(neg.items())
        },
        "recall_strict": total[1] / total[0],
        "recall_lenient": total[2] / total[0],
        "records_all_removed": total[4] / total[3],
        "negatives_unchanged": negs[1] / negs[0],
        "benign_unchanged": neg["benign"][1] / max(1, neg["benign"][0]),
        "stream_records_all_removed": stream[1] / max(1, stream[0]),
        "misses": misses,
    }


def _hexs(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _word(rng: random.Random) -> str:
    return rng.choice(
        [
            "user",
            "order",
            "item",
            "invoice",
            "account",
            "project",
            "build",
            "deploy",
            "request",
            "session",
            "cache",
            "queue",
            "worker",
            "payment",
            "report",
            "metric",
            "event",
            "status",
            "config",
            "service",
            "cluster",
            "node",
        ]
    )


def _json_doc(rng: random.Random) -> str:
    items = []
    for _ in range(rng.randint(3, 8)):
        items.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
                "name": f"{_word(rng)}-{rng.randint(1, 999)}",
                "sha": _hexs(rng, 40),
                "digest": "sha256:" + _hexs(rng, 64),
                "created_at": f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00Z",
                "url": f"https://api.example.com/v1/{_word(rng)}s/{rng.randint(1, 10**6)}",
                "tags": [_word(rng) for _ in range(rng.randint(0, 4))],
                "size": rng.randint(0, 10**7),
                "etag": '"' + _hexs(rng, 32) + '"',
            }
        )
    cursor = base64.b64encode(rng.randbytes(24)).decode()
    return json.dumps(
        {"data": items, "next_cursor": cursor, "total": rng.randint(1, 10**4)}, indent=2
    )


def _log_lines(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(10, 30)):
        lines.append(
            f"2025-05-01T10:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z "
            f"{rng.choice(['INFO', 'WARN', 'DEBUG', 'ERROR'])} "
            f"[{_word(rng)}] request_id={uuid.UUID(int=rng.getrandbits(128))} "
            f"trace={_hexs(rng, 32)} {_word(rng)} {rng.choice(['started', 'done', 'failed'])} "
            f"in {rng.randint(1, 900)}ms user={rng.randint(1, 99999)} "
            f"path=/api/{_word(rng)}/{rng.randint(1, 999)} "
            f"status={rng.choice([200, 201, 404, 500])}"
        )
    return "\n".join(lines) + "\n"


def _code(rng: random.Random) -> str:
    name = _word(rng)
    return (
        f"def load_{name}(client, {name}_id: str) -> dict:\n"
        f'    """Fetch one {name} by id."""\n'
        f'    response = client.get(f"/v1/{name}s/{{{name}_id}}", timeout={rng.randint(1, 30)})\n'
        f"    response.raise_for_status()\n"
        f"    data = response.json()\n"
        f"    token_count = len(data.get('items', []))\n"
        f"    checksum = hashlib.sha256(data['body'].encode()).hexdigest()  # {_hexs(rng, 12)}\n"
        f"    return {{'id': {name}_id, 'count': token_count, 'checksum': checksum}}\n\n"
        f"// commit {_hexs(rng, 40)}\n"
        f"const {name}Key = process.env.{name.upper()}_KEY;\n"
        f"fetch(`https://api.example.com/{name}`, {{ headers: {{ 'X-Request-Id': '{uuid.UUID(int=rng.getrandbits(128))}' }} }});\n\n"  # noqa: E501
    )


def mixed_documents(total_bytes: int, seed: int = 7) -> list[str]:
    """Seeded 16 KiB documents of JSON API responses, log lines and code (no planted secrets
    except one in roughly every fiftieth document)."""
    rng = random.Random(seed)
    docs: list[str] = []
    size = 0
    while size < total_bytes:
        parts: list[str] = []
        length = 0
        while length < DOC:
            part = rng.choice([_json_doc, _log_lines, _code])(rng)
            parts.append(part)
            length += len(part)
        doc = "".join(parts)[:DOC]
        if rng.random() < 0.02:
            doc = (
                doc[:8000]
                + "\nGITHUB_TOKEN=ghp_"
                + "".join(rng.choice(string.ascii_letters) for _ in range(36))
                + "\n"
                + doc[8000:]
            )
        docs.append(doc)
        size += len(doc)
    return docs


def throughput(redactor: Redactor, docs: list[str]) -> tuple[float, float]:
    """Input MB/s over ``docs``, one session per document: by the wall clock, and by this
    process's CPU time (which other processes on a shared machine disturb far less)."""
    start, cpu = time.perf_counter(), time.process_time()
    for doc in docs:
        redactor.session().text(doc)
    size = sum(len(d) for d in docs) / 1e6
    return size / (time.perf_counter() - start), size / (time.process_time() - cpu)


_REFERENCE = re.compile(r"[A-Za-z0-9+/=_\-]{20,}")


def reference(docs: list[str]) -> float:
    """MB/s of a fixed stand-in workload (lower-casing and one token regex over the same
    documents): measured in the same run, so a loaded machine shows in it as it does in the
    redactor's figures, and their ratio survives the load."""
    start = time.perf_counter()
    for doc in docs:
        doc.lower()
        _REFERENCE.findall(doc)
    return sum(len(d) for d in docs) / (time.perf_counter() - start) / 1e6


def generated_figures(redactor: Redactor) -> dict[str, dict[str, float]]:
    """Share of generated cases handled per family, on the developed and held-out parts."""
    score: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case in _cases(seed=2026, per_family=200):
        out = redactor.session().text(case.text)
        ok = all(removed_strict(s, out) for s in case.secrets) if case.secrets else out == case.text
        row = score[f"{case.family}/{'held' if case.held_out else 'dev'}"]
        row[0] += 1
        row[1] += ok
    return {k: {"cases": v[0], "ok": v[1] / v[0]} for k, v in sorted(score.items())}


def latency(redactor: Redactor, runs: int = 2000) -> dict[str, float]:
    """p50/p99 in milliseconds for a typical 4 KB JSON tool result with no secret."""
    rng = random.Random(3)
    doc = _json_doc(rng)
    while len(doc) < 4096:
        doc += _json_doc(rng)
    doc = doc[:4096]
    known = redactor.known([hashlib.sha256(b"k").hexdigest(), "s3cr3t-value-xyz"])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        redactor.session(known).text(doc)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99)]}


def main() -> int:
    """Run every figure and print the summary line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mix-mb", type=float, default=10.0)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    records = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    redactor = Redactor()
    fallback = Redactor(RedactionConfig(engine="fallback"))
    figures: dict[str, Any] = {"engine": redactor.engine_name, "corpus": str(CORPUS)}
    figures.update(corpus_figures(redactor, records))
    figures["generated"] = generated_figures(redactor)
    docs = mixed_documents(int(args.mix_mb * 1e6))
    redactor.session().text(docs[0])
    fallback.session().text(docs[0])
    figures["mix_bytes"] = sum(len(d) for d in docs)
    figures["load_before"] = os.getloadavg()[0]
    figures["reference_mbps"] = reference(docs)
    figures["mbps"], figures["cpu_mbps"] = throughput(redactor, docs)
    figures["fallback_engine"] = fallback.engine_name
    figures["fallback_mbps"], figures["fallback_cpu_mbps"] = throughput(fallback, docs)
    figures["reference_mbps_after"] = reference(docs)
    figures["load_after"] = os.getloadavg()[0]
    figures.update(latency(redactor))
    print(f"engine: {figures['engine']}   corpus: {len(records)} records")
    print(f"{'category':34} {'secrets':>7} {'strict':>7} {'lenient':>7} {'records':>7}")
    for cat, row in figures["positives"].items():
        print(
            f"{cat:34} {row['secrets']:7d} {row['recall_strict']:7.3f} "
            f"{row['recall_lenient']:7.3f} {row['records_all_removed']:7.3f}"
        )
    print(
        f"{'ALL positives':34} {'':7} {figures['recall_strict']:7.3f} "
        f"{figures['recall_lenient']:7.3f} {figures['records_all_removed']:7.3f}"
    )
    print(f"stream (split_at) records all removed: {figures['stream_records_all_removed']:.3f}")
    print(f"{'negative category':34} {'records':>7} {'unchanged':>9}")
    for cat, row in figures["negatives"].items():
        print(f"{cat:34} {row['records']:7d} {row['unchanged']:9.3f}")
    print(f"{'ALL negatives':34} {'':7} {figures['negatives_unchanged']:9.3f}")
    print(
        f"throughput on {figures['mix_bytes'] / 1e6:.1f} MB mix: {figures['mbps']:.1f} MB/s "
        f"({figures['engine']}); fallback ({figures['fallback_engine']}): "
        f"{figures['fallback_mbps']:.1f} MB/s"
    )
    ref = (figures["reference_mbps"] + figures["reference_mbps_after"]) / 2
    print(
        f"same-run reference workload: {ref:.1f} MB/s; ratios hyperscan "
        f"{figures['mbps'] / ref:.3f}, fallback {figures['fallback_mbps'] / ref:.3f}; "
        f"load average {figures['load_before']:.1f} -> {figures['load_after']:.1f}"
    )
    print(
        f"by CPU time: {figures['cpu_mbps']:.1f} MB/s ({figures['engine']}), "
        f"{figures['fallback_cpu_mbps']:.1f} MB/s ({figures['fallback_engine']})"
    )
    print(f"4 KB result latency: p50 {figures['p50_ms']:.4f} ms, p99 {figures['p99_ms']:.4f} ms")
    print(f"{'generated family':34} {'cases':>7} {'ok':>7}")
    for family, row in figures["generated"].items():
        print(f"{family:34} {row['cases']:7d} {row['ok']:7.3f}")
    if args.show_misses:
        print("\n".join(figures["misses"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"redaction-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(figures, indent=2))
    print(
        f"recall_strict={figures['recall_strict']:.3f} "
        f"benign_unchanged={figures['benign_unchanged']:.3f} "
        f"negatives_unchanged={figures['negatives_unchanged']:.3f} mbps={figures['mbps']:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
