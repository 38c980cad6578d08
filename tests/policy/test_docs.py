"""The examples in docs/policy.md are valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from quartermaster.config._policy import PolicyConfig, TimeWindow
from quartermaster.policy import PolicyEngine, TargetTemplate

DOC = Path(__file__).parents[2] / "docs" / "policy.md"
BLOCKS = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)]


def test_the_policy_example_compiles() -> None:
    sections = [b["policy"] for b in BLOCKS if "policy" in b]
    assert len(sections) == 1
    engine = PolicyEngine(PolicyConfig.model_validate(sections[0]), max_ttl=900)
    assert [r.id for r in engine.rules][:3] == ["support-reads", "support-notes", "refunds"]


def test_the_window_and_target_examples_are_valid() -> None:
    windows = [b["when"] for b in BLOCKS if "when" in b]
    assert len(windows) == 1
    TimeWindow.model_validate(windows[0])
    servers = [b["servers"] for b in BLOCKS if "servers" in b]
    template = servers[0]["crm"]["tools"]["append_note"]["target"]
    assert TargetTemplate.parse(template).render({"ticket_id": 4812}) == "ticket:4812"
