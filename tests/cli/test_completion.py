"""`quartermaster completion bash|zsh`: the scripts load in the real shells and complete."""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess

from tests.harness import QUARTERMASTER


@functools.cache
def bash_script() -> str:
    """What `quartermaster completion bash` prints, generated once: each start of the real
    command costs a second or two, and every completion below loads the same script."""
    command = [QUARTERMASTER, "completion", "bash"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def complete_in_bash(*words: str) -> list[str]:
    """What bash offers after ``quartermaster WORDS`` (the last word is being completed)."""
    line = " ".join(["quartermaster", *words])
    script = (
        f"eval {shlex.quote(bash_script())}\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words)}; COMP_LINE='{line}'; "
        f"COMP_POINT={len(line)}\n"
        '_shtab_quartermaster quartermaster "${COMP_WORDS[COMP_CWORD]}" '
        '"${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return sorted(word.strip() for word in done.stdout.splitlines() if word.strip())


def test_bash_completes_commands_sub_commands_options_and_choices() -> None:
    assert complete_in_bash("se") == ["secrets", "serve"]
    assert complete_in_bash("approvals", "") == ["approve", "deny", "list", "show"]
    assert "--offline" in complete_in_bash("check", "--")
    assert complete_in_bash("serve", "--transport", "") == ["http", "stdio"]
    assert complete_in_bash("completion", "") == ["bash", "zsh"]


def test_zsh_loads_the_script_and_registers_the_completion() -> None:
    zsh = shutil.which("zsh")
    assert zsh is not None, "zsh is installed by .ci/run (apt)"
    script = (
        "autoload -U compinit && compinit -u\n"
        f'eval "$({QUARTERMASTER} completion zsh)"\n'
        'print -r -- "$_comps[quartermaster]"\n'
        "functions _shtab_quartermaster_commands\n"
    )
    done = subprocess.run(
        [zsh, "-f", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    first, *body = done.stdout.splitlines()
    assert first == "_shtab_quartermaster"
    listed = "\n".join(body)
    for command in ("serve", "check", "approvals", "policy", "completion"):
        assert f"{command}:" in listed, listed
