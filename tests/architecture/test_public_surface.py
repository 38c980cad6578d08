"""The public surface, checked: parts meet only through their ``__init__`` exports.

An AST walk over ``src/quartermaster`` rather than an import-linter contract: the rule is
generic ("any private module of any other part"), which import-linter states only by
listing modules; this needs no new dependency, takes a fraction of a second, and its
failure names the file, the line and the import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "quartermaster"

NO_MCP = (
    "policy",
    "approval",
    "identity",
    "broker",
    "vault",
    "audit",
    "store",
    "redaction",
    "console",
)
"""Parts that hold rules, not protocol: they must not import the MCP SDK."""


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = path.relative_to(SRC).with_suffix("").parts
    package = here[:-1]  # a module's package; for __init__.py, the package itself
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join((*base, *(node.module.split(".") if node.module else ())))
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from ..config import _vault` names a module too
                yield node.lineno, f"{module}.{alias.name}"


def part_of(path: Path) -> str:
    """The part (sub-package) a source file belongs to; "" for the package's own modules."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else ""


def private_of_another_part(module: str, part: str) -> bool:
    names = module.split(".")
    if names[0] != "quartermaster" or len(names) < 3 or names[1].startswith("_"):
        return False  # not ours, a part itself, or the package's shared _clock/_errors/_version
    return names[1] != part and any(name.startswith("_") for name in names[2:])


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_part_reaches_into_another_parts_private_modules() -> None:
    found = [
        f"{path.relative_to(SRC)}:{line}: imports {module}"
        for path in sources()
        for line, module in imports(path)
        if private_of_another_part(module, part_of(path))
    ]
    assert found == [], "import the part's public name instead:\n" + "\n".join(found)


def test_the_rules_do_not_speak_the_protocol() -> None:
    found = [
        f"{path.relative_to(SRC)}:{line}: imports {module}"
        for path in sources()
        if part_of(path) in NO_MCP
        for line, module in imports(path)
        if module == "mcp" or module.startswith(("mcp.", "mcp_types"))
    ]
    assert found == [], "parts that hold rules must not import the MCP SDK:\n" + "\n".join(found)


def test_the_checker_sees_relative_and_absolute_imports() -> None:
    """The walk itself: a check that saw nothing would pass for the wrong reason."""
    stages = PACKAGE / "stages" / "_classify.py"
    found = {module for _, module in imports(stages)}
    assert "quartermaster.policy" in found  # `from ..policy import ...`
    assert private_of_another_part("quartermaster.config._vault", "vault")
    assert not private_of_another_part("quartermaster.config._vault", "config")
    assert not private_of_another_part("quartermaster._errors", "vault")
    assert not private_of_another_part("quartermaster._version.__version__", "cli")
    assert not private_of_another_part("quartermaster.config", "vault")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Which of our modules each of our modules imports (at any level, TYPE_CHECKING too)."""
    ours = {module_name(path): path for path in sources()}
    graph: dict[str, set[str]] = {}
    for name, path in ours.items():
        # `from .x import y` names module x.y when there is one, else module x.
        found = {module for _, module in imports(path)}
        graph[name] = {m for m in found if m in ours and m != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: list[str] = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_module_imports_itself_round_a_circle() -> None:
    """Circles (the front and the proxy, the redactor and its stream redactor once) make a
    module's dependencies unknowable from its imports; a Protocol names what is used."""
    # A package's __init__ importing its own modules is not a circle of modules.
    found = [
        group
        for group in circles(import_graph())
        if not all(m.startswith(group[0] + ".") for m in group[1:])
    ]
    assert found == [], "import circles:\n" + "\n".join(" <-> ".join(g) for g in found)


def test_the_circle_check_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
