"""Validate OCSF events against the schema's own definitions (the vendored part in ocsf_schema/).

The OCSF schema is not a JSON Schema: a class names its attributes with a requirement
(required / recommended / optional), extends another class, includes profiles; every
attribute's type is in dictionary.json (a scalar type, or an object whose own definition
lists its attributes, constraints such as `at_least_one`, and enums). This walks an event
the way the OCSF server's validator does for what Charter emits: every required attribute
present (of the class, what it extends, the profiles the event declares, and of every object
inside), scalar types, enum values, constraints, and the derived ids (type_uid, class_uid).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parent / "ocsf_schema"

_SCALARS = {"string_t": str, "integer_t": int, "long_t": int, "timestamp_t": int, "float_t": (int, float),
            "boolean_t": bool, "uuid_t": str, "datetime_t": str, "json_t": object, "email_t": str, "url_t": str,
            "ip_t": str, "hostname_t": str, "port_t": int, "file_name_t": str, "mac_t": str, "subnet_t": str,
            "username_t": str, "process_name_t": str, "resource_uid_t": str, "file_path_t": str,
            "reg_key_path_t": str, "bytestring_t": str}


@cache
def _load(rel: str) -> dict[str, Any]:
    return json.loads((SCHEMA / rel).read_text())


def _dictionary() -> dict[str, Any]:
    return _load("dictionary.json")["attributes"]


def _types() -> dict[str, Any]:
    return _load("dictionary.json").get("types", {}).get("attributes", {})


def _attributes(definition: dict[str, Any], profiles: set[str]) -> dict[str, Any]:
    """A definition's attributes, with those of the profiles it includes that the event applies."""
    raw = definition.get("attributes", {})
    out: dict[str, Any] = {}
    for name, attr in raw.items():
        if name == "$include":
            for inc in attr:  # profiles: only those the event declares apply
                if Path(inc).stem in profiles:
                    out.update(_load(inc).get("attributes", {}))
            continue
        out[name] = attr
    return out


def _path(kind: str, name: str) -> str:
    if kind == "object":
        return f"objects/{name}.json"
    return "events/base_event.json" if name == "base_event" else f"events/findings/{name}.json"


def _chain(kind: str, name: str, profiles: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(merged attributes, merged constraints) of an event class or object and what it extends."""
    definition = _load(_path(kind, name))
    attrs: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    parent = definition.get("extends")
    if parent and parent != "object":
        attrs, constraints = _chain(kind, parent, profiles)
    for attr_name, attr in _attributes(definition, profiles).items():
        attrs[attr_name] = {**attrs.get(attr_name, {}), **attr}
    return attrs, {**constraints, **definition.get("constraints", {})}


def _check_value(where: str, name: str, value: Any, attr: dict[str, Any], profiles: set[str],
                 problems: list[str]) -> None:
    info = {**_dictionary().get(name, {}), **attr}
    type_ = info.get("type", "")
    if info.get("is_array"):
        if not isinstance(value, list):
            problems.append(f"{where}.{name}: not an array")
            return
        values = value
    else:
        values = [value]
    # the class file's category/class enums are placeholders the schema compiler fills in
    # (the ids are checked against categories.json and the class uid instead)
    enum = None if name in ("category_uid", "class_uid", "type_uid") else info.get("enum")
    if type_ == "object":  # free-form (e.g. `unmapped`, `data`): any JSON object
        if not isinstance(value, dict):
            problems.append(f"{where}.{name}: not a JSON object")
        return
    for v in values:
        if type_.endswith("_t") or type_ in _types():
            base = _types().get(type_, {}).get("type", type_)
            expected = _SCALARS.get(type_) or _SCALARS.get(base)
            if expected is not None and expected is not object and (
                    not isinstance(v, expected) or (expected is int and isinstance(v, bool))):
                problems.append(f"{where}.{name}: {v!r} is not {type_}")
        elif type_:
            if not isinstance(v, dict):
                problems.append(f"{where}.{name}: not an object ({type_})")
            else:
                validate_object(v, type_, profiles, f"{where}.{name}", problems)
        if enum is not None and str(v) not in enum:
            problems.append(f"{where}.{name}: {v!r} is not one of {sorted(enum)}")


def validate_object(obj: dict[str, Any], name: str, profiles: set[str], where: str, problems: list[str]) -> None:
    attrs, constraints = _chain("object", name, profiles)
    _check(obj, attrs, constraints, profiles, where, problems)


def _check(obj: dict[str, Any], attrs: dict[str, Any], constraints: dict[str, Any], profiles: set[str], where: str,
           problems: list[str]) -> None:
    for name, attr in attrs.items():
        if attr.get("requirement") == "required" and obj.get(name) is None:
            problems.append(f"{where}: required attribute {name!r} missing")
    for name, value in obj.items():
        base = name[:-3] if name.endswith("_dt") else None
        if base in attrs and "datetime" in profiles and \
                {**_dictionary().get(base, {}), **attrs[base]}.get("type") == "timestamp_t":
            # the datetime profile adds a <name>_dt (datetime_t, RFC 3339 text) for every timestamp
            if not isinstance(value, str):
                problems.append(f"{where}.{name}: {value!r} is not datetime_t text")
            continue
        if name not in attrs:
            problems.append(f"{where}: {name!r} is not an attribute here")
            continue
        if value is not None and name in attrs:
            _check_value(where, name, value, attrs[name], profiles, problems)
    if "at_least_one" in constraints and not any(obj.get(a) is not None for a in constraints["at_least_one"]):
        problems.append(f"{where}: needs at least one of {constraints['at_least_one']}")
    if "just_one" in constraints and sum(obj.get(a) is not None for a in constraints["just_one"]) != 1:
        problems.append(f"{where}: needs exactly one of {constraints['just_one']}")


def validate_compliance_finding(event: dict[str, Any]) -> list[str]:
    """Problems with one Compliance Finding event (empty: valid)."""
    profiles = set((event.get("metadata") or {}).get("profiles") or [])
    definition = _load("events/findings/compliance_finding.json")
    attrs, constraints = _chain("event", "compliance_finding", profiles)
    problems: list[str] = []
    _check(event, attrs, constraints, profiles, "event", problems)
    category_name = definition.get("category") or _load(_path("event", definition["extends"]))["category"]
    category = _load("categories.json")["attributes"][category_name]["uid"]
    class_uid = category * 1000 + definition["uid"]
    if event.get("category_uid") != category:
        problems.append(f"event.category_uid: {event.get('category_uid')} is not {category} ({category_name})")
    if event.get("class_uid") != class_uid:
        problems.append(f"event.class_uid: {event.get('class_uid')} is not {class_uid}")
    if event.get("type_uid") != class_uid * 100 + (event.get("activity_id") or 0):
        problems.append("event.type_uid is not class_uid * 100 + activity_id")
    return problems
