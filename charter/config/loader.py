"""Load `org.yaml` into an `OrgConfig`, with every error located at file:line:column.

One YAML library, PyYAML (libyaml): the document is read with the YAML 1.2 core schema and no
duplicate keys (`_Yaml12Loader`: `no` and `on` are strings, `012` is 12). Only a config with a
problem is read a second time, as PyYAML's node tree (`compose`), whose nodes keep the line and
column of every key and item: that is where each problem is reported.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml as pyyaml
from pydantic import BaseModel, ValidationError
from yaml.error import MarkedYAMLError, YAMLError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from charter.errors import ConfigError, ConfigIssue

from .checks import Check, run_checks
from .model import OrgConfig

_TYPE_HINTS = {
    "string_type": "quote the value, e.g. \"123456789012\" for an account id",
    "int_type": "use a whole number",
    "int_parsing": "use a whole number",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "list_type": "use a YAML list (`- item` lines or [a, b])",
    "dict_type": "use a mapping of `key: value` lines",
    "model_type": "use a mapping of `key: value` lines",
    "model_attributes_type": "use a mapping of `key: value` lines",
    "string_pattern_mismatch": "",
    "value_error": "",
    "literal_error": "",
    "too_short": "add at least one item",
    "greater_than_equal": "",
    "less_than_equal": "",
}


def _entry(node: Node | None, part: str | int) -> tuple[Node, Node] | None:
    """(key node, value node) of `part` in a mapping node, looking through `<<` merges."""
    if not isinstance(node, MappingNode) or isinstance(part, int):
        return None
    merged: list[MappingNode] = []
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge" and key.value == part:
            return key, value
        if key.tag == "tag:yaml.org,2002:merge":
            merged += [value] if isinstance(value, MappingNode) else [v for v in getattr(value, "value", [])
                                                                       if isinstance(v, MappingNode)]
    for source in merged:
        found = _entry(source, part)
        if found:
            return found
    return None


def _child(node: Node | None, part: str | int) -> tuple[Node, Node] | None:
    """(node to point at, node to descend into) for `part` under `node`, or None."""
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part], node.value[part]
    return _entry(node, part)


def _position(root: Node | None, loc: Sequence[str | int]) -> tuple[int, int, bool]:
    """Line and column (0-based) of the deepest node of `loc` present in the YAML tree.

    Returns (line, column, reached) where `reached` says the whole path exists.
    """
    node, line, col = root, 0, 0
    if root is not None:
        line, col = root.start_mark.line, root.start_mark.column
    for part in loc:
        found = _child(node, part)
        if found is None:
            return line, col, False
        at, node = found
        line, col = at.start_mark.line, at.start_mark.column
    return line, col, True


def _format_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at `loc`."""
    model: type[BaseModel] | None = OrgConfig
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _find_model(field.annotation)
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _find_model(typing.get_args(annotation)[0])
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _find_model(arg)
            if found:
                return found
    return None


def _clean_loc(root: Node | None, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop the union-member tags pydantic inserts into loc (e.g. 'list[str]', "literal['default']").

    A part that is a real key of the YAML node at that point is kept even if it looks like a
    tag, so a user's key such as `a[b]` is still reported by name.
    """
    out: list[str | int] = []
    node = root
    for part in loc:
        found = _child(node, part)
        if found is not None:
            out.append(part)
            node = found[1]
        elif isinstance(part, str) and any(c in part for c in "[]()"):
            continue  # a pydantic union tag: not part of the user's document
        else:
            out.append(part)
            node = None
    return tuple(out)


def _issue_from_pydantic(file: str, root: Node | None, err: dict[str, Any]) -> ConfigIssue:
    loc = _clean_loc(root, tuple(err["loc"]))
    kind = err["type"]
    line, col, _ = _position(root, loc)
    path = _format_path(loc)
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        model = _model_at(loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        close = get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else (
            "remove it; allowed keys here: " + ", ".join(allowed) if allowed else "remove it")
        return ConfigIssue(file, line + 1, col + 1, path, f"unknown key '{key}'", hint)
    if kind == "missing" and loc:
        key = str(loc[-1])
        pline, pcol, _ = _position(root, loc[:-1])
        return ConfigIssue(file, pline + 1, pcol + 1, path, f"required key '{key}' is missing",
                           f"add `{key}:` here (see `charter schema`)")
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    got = err.get("input")
    if kind in ("string_type", "int_type", "bool_type", "list_type", "dict_type", "model_type"):
        message += f" (got {type(got).__name__} {got!r})" if not isinstance(got, (dict, list)) else ""
    return ConfigIssue(file, line + 1, col + 1, path, message, _TYPE_HINTS.get(kind, ""))


def read_yaml(path: Path, text: str) -> Any:
    """The document (YAML 1.2 core schema, no duplicate keys), or a located `ConfigError`."""
    try:
        return pyyaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a safe loader with 1.2 resolvers
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        hint = "each key may appear once per mapping" if problem.startswith("duplicate key") else \
            "check indentation and quoting near this point"
        raise ConfigError([ConfigIssue(str(path), line, col, "", f"YAML syntax error: {problem}", hint)]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue(str(path), 1, 1, "", "the YAML refers to itself (recursive alias)",
                                       "replace the alias with a plain value")]) from None
    except (YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise ConfigError([ConfigIssue(str(path), 1, 1, "", f"cannot read YAML: {exc}",
                                       "fix the YAML syntax")]) from None


def _tree(text: str) -> Node | None:
    """The document's node tree, whose nodes keep their line and column (read again only when
    there is a problem to locate: `read_yaml` already accepted the text)."""
    return pyyaml.compose(text, Loader=_Yaml12Loader)  # noqa: S506 - composing builds no objects


class _Yaml12Loader(getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)):  # type: ignore[misc]
    """libyaml reading plain scalars by the YAML 1.2 core schema (`no`, `on` and `012` are a
    string, a string and 12, not YAML 1.1's False, True and 10), with no duplicate keys."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen and key != "<<":
                raise pyyaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml12_int(self, node: Any) -> int:
        value = self.construct_scalar(node).replace("_", "")
        for prefix, base in (("0o", 8), ("0x", 16), ("0b", 2)):
            if value.startswith(prefix):
                return int(value[2:], base)
        return int(value, 10)


for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+|0b[01_]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
    ("tag:yaml.org,2002:timestamp", r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
                                    r"(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
                                    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$", "0123456789"),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
):
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _Yaml12Loader.construct_yaml12_int)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:null", lambda loader, node: None)


class _Yaml12Dumper(pyyaml.SafeDumper):
    """Writes what `_Yaml12Loader` reads back as the same values: a string the 1.2 core schema
    would read as a number, a boolean or null is quoted, by the loader's own resolvers."""


_Yaml12Dumper.yaml_implicit_resolvers = {k: list(v) for k, v in _Yaml12Loader.yaml_implicit_resolvers.items()}


def dump_yaml(data: Any) -> str:
    """`data` as YAML that `read_yaml` reads back unchanged (keys in their order)."""
    return pyyaml.dump(data, Dumper=_Yaml12Dumper, sort_keys=False, allow_unicode=True)


def load_config_text(text: str, path: str | Path = "org.yaml", *, landing_zone: bool = True,
                     checks: Sequence[Check] = ()) -> OrgConfig:
    """Parse and validate `text`; raise `ConfigError` listing every problem found.

    `landing_zone=False` (`charter assess`): the accounts are existing ones, judged against the
    baseline; the log-archive, audit and security accounts a landing zone needs are not required.
    `checks`: a domain's own cross-field checks, run after the ground floor's (commands load
    through `charter.landing_zone.config`, which adds the SCP guardrail checks)."""
    path = Path(path)
    data = read_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(str(path), 1, 1, "", "the file must be a YAML mapping at the top level",
                                       "start from `charter init` for a commented example")])
    try:
        cfg = OrgConfig.model_validate(data)
    except ValidationError as exc:
        root = _tree(text)
        issues = [_issue_from_pydantic(str(path), root, e) for e in exc.errors(include_url=False)]
        raise ConfigError(_sorted(issues)) from None
    except RecursionError:
        raise ConfigError([ConfigIssue(str(path), 1, 1, "", "the YAML refers to itself (recursive alias)",
                                       "replace the alias with a plain value")]) from None
    problems = run_checks(cfg, landing_zone=landing_zone, extra=checks)
    if problems:
        root = _tree(text)
        issues = []
        for loc, message, hint in problems:
            line, col, _ = _position(root, loc)
            issues.append(ConfigIssue(str(path), line + 1, col + 1, _format_path(loc), message, hint))
        raise ConfigError(_sorted(issues))
    return cfg


def _sorted(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda i: (i.line, i.column))


def load_config(path: str | Path, *, landing_zone: bool = True, checks: Sequence[Check] = ()) -> OrgConfig:
    """Load `org.yaml` from disk (`landing_zone`: see `load_config_text`)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        # a directory fails to read; a FIFO or a device would block the read forever
        raise ConfigError([ConfigIssue(str(path), 1, 1, "", "not a regular file (a directory, FIFO or device)",
                                       "pass the path of the org.yaml file with -c")])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(path), 1, 1, "", "file not found",
                                       "pass the path with -c, or create one with `charter init`")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), 1, 1, "", f"cannot read file: {exc}",
                                       "check the path and that the file is UTF-8 text")]) from None
    return load_config_text(text, path, landing_zone=landing_zone, checks=checks)


