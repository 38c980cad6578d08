"""``approval.step_up.via``: who may confirm a plain step-up, and a precise error otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from quartermaster.config import ConfigError, load_config


def test_who_may_confirm_a_step_up_is_configured_precisely(tmp_path: Path) -> None:
    path = tmp_path / "tools.yaml"
    path.write_text("version: 1\n")
    assert load_config(path).config.approval.step_up.via == "people"
    path.write_text("version: 1\napproval:\n  step_up: {via: client}\n")
    assert load_config(path).config.approval.step_up.via == "client"
    path.write_text("version: 1\napproval:\n  step_up: {via: agent}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert f"{path}:3:18: approval.step_up.via: Input should be 'people' or 'client'" in message
