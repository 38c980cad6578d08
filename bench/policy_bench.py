"""Decide-stage latency: the compiled engine against a naive linear scan, same rules, same calls.

Run from the repository root:

    PYTHONPATH=src .venv/bin/python bench/policy_bench.py [--rules 1000] [--calls 20000]

Prints p50/p99 latency per decision and decisions per second for both, checks that both
reach the same decisions, times a whole ``tools/list`` decision (``PolicyEngine.listable``
for every tool, one caller), and writes the figures to ``bench/results/policy_bench.json``.
Figures only: nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import platform
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from quartermaster.config._base import RiskClass
from quartermaster.config._policy import WEEKDAYS, PolicyConfig, PolicyRule, parse_hours
from quartermaster.policy import CallFacts, PolicyEngine

NOW = 1_800_000_000.0
RISKS: tuple[RiskClass, ...] = ("read", "write", "dangerous")


def make_policy(rule_count: int, servers: int, tools_per_server: int, seed: int) -> dict[str, Any]:
    """A policy shaped like a large real one.

    Mostly permits per tool and per server glob, some cross-server globs and tool-less
    permits for named agents; forbids (8 %) name one tool and one agent, as real exceptions
    do. Some rules add risk lists, delegating humans, targets and office-hours windows.
    """
    rng = random.Random(seed)
    rules: list[dict[str, Any]] = []
    for index in range(rule_count):
        server = rng.randrange(servers)
        tool = f"srv{server}__tool{rng.randrange(tools_per_server)}"
        rule: dict[str, Any] = {"id": f"r{index}", "effect": "permit"}
        if rng.random() < 0.08:
            rule.update(effect="forbid", tool=tool, agent=f"agent-{rng.randrange(60)}")
            rules.append(rule)
            continue
        kind = rng.random()
        if kind < 0.55:
            rule["tool"] = tool
        elif kind < 0.85:
            rule["tool"] = f"srv{server}__*"
        elif kind < 0.97:
            rule["tool"] = f"*__tool{rng.randrange(tools_per_server)}"
        if kind >= 0.97:
            rule["agent"] = f"agent-{rng.randrange(60)}"
        elif rng.random() < 0.7:
            rule["agent"] = rng.choice(["agent-*", f"agent-{rng.randrange(60)}", "ops-*"])
        if rng.random() < 0.5:
            rule["tenant"] = f"tenant-{rng.randrange(12)}"
        if rng.random() < 0.2:
            rule["human"] = "*@example.com"
        if rng.random() < 0.3:
            rule["risk"] = rng.sample(RISKS, rng.randint(1, 2))
        if rng.random() < 0.15:
            rule["target"] = f"ticket:{rng.randrange(100)}*"
        if rng.random() < 0.1:
            rule["when"] = {
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "hours": "08:00-18:00",
                "timezone": "Europe/Berlin",
            }
        rule["ttl"] = rng.choice([60, 300, 900])
        rule["approval"] = rng.choice(["none", "none", "step_up"])
        rules.append(rule)
    return {"rules": rules}


def make_calls(count: int, servers: int, tools_per_server: int, seed: int) -> list[CallFacts]:
    """Calls spread over every tool, agent and tenant."""
    rng = random.Random(seed + 1)
    return [
        CallFacts(
            agent=f"agent-{rng.randrange(60)}",
            tenant=f"tenant-{rng.randrange(12)}",
            human=rng.choice([None, "alice@example.com", "mallory@evil.test"]),
            tool=f"srv{rng.randrange(servers)}__tool{rng.randrange(tools_per_server)}",
            risk=rng.choice(RISKS),
            target=f"ticket:{rng.randrange(2000)}",
        )
        for _ in range(count)
    ]


def _naive_matches(rule: PolicyRule, facts: CallFacts, now: float) -> bool:
    for patterns, value in (
        (rule.tool, facts.tool),
        (rule.agent, facts.agent),
        (rule.tenant, facts.tenant),
        (rule.human, facts.human),
        (rule.target, facts.target),
    ):
        if patterns is not None and (
            value is None or not any(fnmatch.fnmatchcase(value, p) for p in patterns)
        ):
            return False
    if rule.risk is not None and facts.risk not in rule.risk:
        return False
    if rule.when is not None:
        local = datetime.fromtimestamp(now, ZoneInfo(rule.when.timezone))
        if rule.when.days is not None and WEEKDAYS[local.weekday()] not in rule.when.days:
            return False
        if rule.when.hours is not None:
            start, end = parse_hours(rule.when.hours)
            if not start <= local.hour * 60 + local.minute < end:
                return False
    return True


def naive_decide(policy: PolicyConfig, facts: CallFacts, now: float) -> str | None:
    """The obvious implementation: scan every rule, forbid wins, first permit decides."""
    first_permit = None
    for rule in policy.rules:
        if _naive_matches(rule, facts, now):
            if rule.effect == "forbid":
                return rule.id
            if first_permit is None:
                first_permit = rule.id
    return first_permit


def _throughput(decide: Any, calls: list[CallFacts], repeats: int = 3) -> float:
    # Without a timer around each call; best of a few runs, as the machine is shared.
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        for facts in calls:
            decide(facts)
        best = max(best, len(calls) / (time.perf_counter() - started))
    return best


def _latencies(decide: Any, calls: list[CallFacts]) -> dict[str, float]:
    samples = []
    clock = time.perf_counter_ns
    for facts in calls:
        before = clock()
        decide(facts)
        samples.append(clock() - before)
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2] / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
    }


def _listing_latencies(
    engine: PolicyEngine, servers: int, tools_per_server: int, seed: int, listings: int = 200
) -> dict[str, float]:
    """Milliseconds to decide one whole tools/list (every tool) for one caller, warm memo."""
    rng = random.Random(seed + 2)
    names = [f"srv{s}__tool{t}" for s in range(servers) for t in range(tools_per_server)]
    risks = {name: rng.choice(RISKS) for name in names}
    samples, shown = [], []
    for _ in range(listings):
        agent, tenant = f"agent-{rng.randrange(60)}", f"tenant-{rng.randrange(12)}"
        human = rng.choice([None, "alice@example.com"])
        started = time.perf_counter_ns()
        visible = sum(
            engine.listable(
                CallFacts(agent=agent, tenant=tenant, human=human, tool=name, risk=risks[name]),
                has_target=True,
                now=NOW,
            )
            for name in names
        )
        samples.append(time.perf_counter_ns() - started)
        shown.append(visible)
    samples.sort()
    return {
        "p50_ms": samples[len(samples) // 2] / 1e6,
        "p99_ms": samples[int(len(samples) * 0.99)] / 1e6,
        "shown_mean": statistics.fmean(shown),
    }


def main() -> None:
    """Run the benchmark and write ``bench/results/policy_bench.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--tools-per-server", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/policy_bench.json"))
    args = parser.parse_args()

    policy = PolicyConfig.model_validate(
        make_policy(args.rules, args.servers, args.tools_per_server, args.seed)
    )
    compile_started = time.perf_counter()
    engine = PolicyEngine(policy, max_ttl=900)
    compile_ms = (time.perf_counter() - compile_started) * 1000
    calls = make_calls(args.calls, args.servers, args.tools_per_server, args.seed)
    naive_calls = calls[: max(1, args.calls // 10)]

    # The first pass fills the per-tool candidate memo, as a fresh proxy's first calls do.
    cold = _latencies(lambda f: engine.decide(f, now=NOW), calls)
    disagreements = sum(
        engine.decide(f, now=NOW).rule_id != naive_decide(policy, f, NOW) for f in naive_calls
    )
    warm = _latencies(lambda f: engine.decide(f, now=NOW), calls)
    warm["decisions_per_s"] = _throughput(lambda f: engine.decide(f, now=NOW), calls)
    naive = _latencies(lambda f: naive_decide(policy, f, NOW), naive_calls)
    naive["decisions_per_s"] = _throughput(lambda f: naive_decide(policy, f, NOW), naive_calls, 1)
    allowed = sum(engine.decide(f, now=NOW).allowed for f in calls)
    listing = _listing_latencies(engine, args.servers, args.tools_per_server, args.seed)

    result = {
        "benchmark": "policy decide",
        "rules": args.rules,
        "tools": args.servers * args.tools_per_server,
        "calls": args.calls,
        "naive_calls": len(naive_calls),
        "allowed_fraction": round(allowed / len(calls), 3),
        "compile_ms": round(compile_ms, 2),
        "engine_first_pass": {k: round(v, 2) for k, v in cold.items()},
        "engine": {k: round(v, 2) for k, v in warm.items()},
        "naive_linear_scan": {k: round(v, 2) for k, v in naive.items()},
        "listing_all_tools": {k: round(v, 2) for k, v in listing.items()},
        "speedup_p50": round(naive["p50_us"] / warm["p50_us"], 1),
        "disagreements_with_naive": disagreements,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    for name, figures in (
        ("engine_first_pass", cold),
        ("engine", warm),
        ("naive_linear_scan", naive),
    ):
        rate = figures.get("decisions_per_s")
        print(
            f"{name:18} p50 {figures['p50_us']:9.2f} us   p99 {figures['p99_us']:9.2f} us"
            + ("" if rate is None else f"   {rate:12,.0f} decisions/s")
        )
    print(
        f"{'listing':18} p50 {listing['p50_ms']:9.2f} ms   p99 {listing['p99_ms']:9.2f} ms"
        f"   (every one of {args.servers * args.tools_per_server} tools, one caller;"
        f" {listing['shown_mean']:.0f} shown on average)"
    )
    print(
        f"compile {compile_ms:.1f} ms for {args.rules} rules; "
        f"{disagreements} disagreements with the naive scan"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
