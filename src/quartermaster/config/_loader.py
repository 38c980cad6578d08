"""Reading ``tools.yaml``: YAML with positions, strict validation, every problem located.

The file is parsed twice on purpose: once into a node tree (for line/column of every key and
value, and to refuse duplicate keys that PyYAML would otherwise silently overwrite) and once
into plain data for pydantic. Configuration files are small; precise errors are worth it.
"""

from __future__ import annotations

import difflib
import itertools
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from ._checks import Check, semantic_problems
from ._errors import ConfigError, ConfigProblem
from ._model import QuartermasterConfig

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class _Mark:
    line: int
    column: int


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and where it came from."""

    config: QuartermasterConfig
    path: Path

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the file are resolved against."""
        return self.path.parent


def load_config(path: str | Path, *, checks: Sequence[Check] = ()) -> LoadedConfig:
    """Read and validate a configuration file.

    ``checks`` are extra whole-file rules from the parts that own them (a target template
    that does not parse, a secret a tool may not use); their problems are located too.

    Raises:
        ConfigError: the file cannot be read, is not valid YAML, or does not validate; the
            error lists every problem as ``file:line:column: key.path: message``.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([ConfigProblem(str(file), 1, 1, "", f"cannot read: {reason}")]) from exc
    return LoadedConfig(parse_config(text, str(file), checks=checks), file.resolve())


def parse_config(
    text: str, filename: str = "<string>", *, checks: Sequence[Check] = ()
) -> QuartermasterConfig:
    """Validate configuration text; see :func:`load_config` for the errors raised."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise ConfigError([ConfigProblem(filename, line, column, "", message)]) from exc
    if root is None:
        raise ConfigError([ConfigProblem(filename, 1, 1, "", "empty file; expected 'version: 1'")])

    value_marks: dict[KeyPath, _Mark] = {}
    key_marks: dict[KeyPath, _Mark] = {}
    problems = list(_index(root, (), value_marks, key_marks, filename))
    if problems:
        raise ConfigError(problems)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(filename, 1, 1, "", "the top level must be a mapping of keys")]
        )
    locate = _Locator(filename, value_marks, key_marks)
    try:
        config = QuartermasterConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(error, locate) for error in exc.errors()]) from None
    problems_found = itertools.chain(
        semantic_problems(config), *(check(config) for check in checks)
    )
    found = [locate(path, message) for path, message in problems_found]
    if found:
        raise ConfigError(found)
    return config


def _index(
    node: yaml.Node,
    path: KeyPath,
    value_marks: dict[KeyPath, _Mark],
    key_marks: dict[KeyPath, _Mark],
    filename: str,
) -> Iterator[ConfigProblem]:
    value_marks[path] = _Mark(node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, child in node.value:
            key = str(key_node.value)
            child_path = (*path, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                yield ConfigProblem(
                    filename,
                    line,
                    key_node.start_mark.column + 1,
                    _render(child_path),
                    f"duplicate key (first defined on line {seen[key]})",
                )
                continue
            seen[key] = line
            key_marks[child_path] = _Mark(line, key_node.start_mark.column + 1)
            yield from _index(child, child_path, value_marks, key_marks, filename)
    elif isinstance(node, yaml.SequenceNode):
        for position, child in enumerate(node.value):
            yield from _index(child, (*path, position), value_marks, key_marks, filename)


@dataclass(frozen=True)
class _Locator:
    filename: str
    value_marks: Mapping[KeyPath, _Mark]
    key_marks: Mapping[KeyPath, _Mark]

    def __call__(self, path: KeyPath, message: str, *, at_key: bool = False) -> ConfigProblem:
        marks = self.key_marks if at_key else self.value_marks
        probe = path
        while probe and probe not in marks:
            probe = probe[:-1]
        mark = marks.get(probe) or self.value_marks.get(probe) or _Mark(1, 1)
        return ConfigProblem(self.filename, mark.line, mark.column, _render(path), message)


def _problem(error: Any, locate: _Locator) -> ConfigProblem:
    loc: KeyPath = tuple(part for part in error["loc"] if not _is_pydantic_tag(part))
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _field_names(QuartermasterConfig, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        allowed = f" (known keys: {', '.join(sorted(known))})" if known and not hint else ""
        return locate(loc, f"unknown key{suggestion}{allowed}", at_key=True)
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind == "missing":
        return locate(loc, "required key is missing")
    return locate(loc, message)


def _is_pydantic_tag(part: str | int) -> bool:
    # Pydantic inserts the name of the validator for constrained types (e.g. 'function-after[...]').
    return isinstance(part, str) and ("[" in part and part.endswith("]"))


def _field_names(model: type[BaseModel], path: KeyPath) -> list[str]:
    """The keys a model accepts at ``path``, following nested models, dicts and lists."""
    current: Any = model
    for part in path:
        current = _step(current, part)
        if current is None:
            return []
    return list(current.model_fields) if _is_model(current) else []


def _step(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if _is_model(annotation):
        field = annotation.model_fields.get(str(part))
        return _unwrap(field.annotation) if field is not None else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (dict, Mapping) and len(args) == 2:
        return _unwrap(args[1])
    if origin in (list, tuple) and args:
        return _unwrap(args[0])
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip ``Optional``/``Annotated`` so that the model class underneath is found."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _render(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
