"""Floors on the shared labelled corpus (read in place, never copied into the repository)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from quartermaster.redaction import Redactor

_NAME = Path("shared") / "corpora" / "redaction-dev.jsonl"
# ../shared/corpora next to the repository, or next to the directory of worktrees.
CORPUS = next(
    (d / _NAME for d in Path(__file__).resolve().parents[2].parents if (d / _NAME).exists()),
    Path(__file__).resolve().parents[2].parent / _NAME,
)


def _removed(secret: str, out: str) -> bool:
    n = min(len(secret), 12)
    return not any(secret[i : i + n] in out for i in range(len(secret) - n + 1))


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    if not CORPUS.is_file():
        # The corpus is shared material beside the repository (never copied into it), so a
        # clone on its own, such as a fresh CI checkout elsewhere, does not have it.
        pytest.skip(f"the shared redaction corpus is not at {CORPUS} (../shared is absent)")
    return [json.loads(x) for x in CORPUS.read_text(encoding="utf-8").splitlines() if x.strip()]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def test_strict_recall_and_benign_precision(
    records: list[dict[str, Any]], redactor: Redactor
) -> None:
    found = total = benign = benign_same = 0
    for rec in records:
        out = redactor.session(redactor.known(rec.get("known_secrets") or [])).text(rec["text"])
        if rec["label"] == "positive":
            total += len(rec["secrets"])
            found += sum(_removed(s, out) for s in rec["secrets"])
        elif rec["category"] == "benign":
            benign += 1
            benign_same += out == rec["text"]
    assert found / total >= 0.95
    assert benign_same / benign >= 0.99


def test_near_misses_left_alone_and_no_category_behind(
    records: list[dict[str, Any]], redactor: Redactor
) -> None:
    # Strings shaped like a provider's token but invalid (trufflehog's "invalid pattern"
    # inputs) come back unchanged at least 80% of the time, while every positive category
    # keeps a strict recall of at least 0.90 (issue 19).
    found: dict[str, list[int]] = {}
    near = near_same = 0
    for rec in records:
        out = redactor.session(redactor.known(rec.get("known_secrets") or [])).text(rec["text"])
        if rec["label"] == "positive":
            row = found.setdefault(rec["category"], [0, 0])
            row[0] += len(rec["secrets"])
            row[1] += sum(_removed(s, out) for s in rec["secrets"])
        elif rec["category"] == "near_miss_trufflehog_invalid":
            near += 1
            near_same += out == rec["text"]
    assert near_same / near >= 0.80
    assert all(hit / total >= 0.90 for total, hit in found.values()), found


def test_known_values_all_removed(records: list[dict[str, Any]], redactor: Redactor) -> None:
    for rec in (r for r in records if r["category"] == "known_value"):
        out = redactor.session(redactor.known(rec["known_secrets"])).text(rec["text"])
        assert all(_removed(s, out) for s in rec["secrets"]), rec["id"]


def test_split_records_removed_when_streamed(
    records: list[dict[str, Any]], redactor: Redactor
) -> None:
    split = [r for r in records if r.get("split_at")]
    ok = 0
    for rec in split:
        stream = redactor.session(redactor.known(rec.get("known_secrets") or [])).stream()
        cuts = [0, *rec["split_at"], len(rec["text"])]
        out = "".join(stream.feed(rec["text"][a:b]) for a, b in itertools.pairwise(cuts))
        out += stream.flush()
        whole = redactor.session(redactor.known(rec.get("known_secrets") or [])).text(rec["text"])
        assert out == whole, rec["id"]
        ok += all(_removed(s, out) for s in rec["secrets"])
    assert ok / len(split) >= 0.92
