"""Bad config never yields a traceback.

Hypothesis mutates the valid small example (deletes keys, swaps in wrong types, breaks
emails, duplicates names, makes OUs cyclic or too deep, truncates or garbles the YAML);
every result must be a valid config or a ConfigError whose every line is located.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.errors import ConfigError
from charter.landing_zone.config import load_config_text

SMALL = (Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml").read_text()
BASE = yaml.safe_load(SMALL)
LOCATED = re.compile(r"^org\.yaml:\d+:\d+: ")


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


PATHS = _paths(BASE)
WRONG_VALUES = [None, 0, -1, 3.5, True, "", "x" * 300, [], {}, ["a"], {"a": 1}, "not-an-email", "Root",
                "us-east-9", "10.0.0.0/33", "999", "bad name!", "ORG-01"]


def _set(data: Any, path: tuple, value: Any) -> None:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value


def _delete(data: Any, path: tuple) -> None:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]


mutation = st.one_of(
    st.tuples(st.just("delete"), st.sampled_from(PATHS), st.none()),
    st.tuples(st.just("replace"), st.sampled_from(PATHS), st.sampled_from(WRONG_VALUES)),
    st.tuples(st.just("email"), st.integers(0, 5), st.sampled_from(["a@", "@b.com", "a b@c.com", "a@b", ""])),
    st.tuples(st.just("dup-name"), st.integers(0, 5), st.integers(0, 5)),
    st.tuples(st.just("cycle"), st.integers(0, 4), st.integers(0, 4)),
    st.tuples(st.just("deep"), st.integers(4, 9), st.none()),
)


def _apply(data: dict, op: tuple) -> None:
    kind, a, b = op
    if kind == "delete":
        _delete(data, a)
    elif kind == "replace":
        _set(data, a, b)
    elif kind == "email":
        data["accounts"][a]["email"] = b
    elif kind == "dup-name":
        data["accounts"][a]["name"] = data["accounts"][b]["name"]
    elif kind == "cycle":
        data["ous"][a]["parent"] = data["ous"][b]["name"]
    elif kind == "deep":
        data["ous"] += [{"name": f"Deep{i}", "parent": "Root" if i == 0 else f"Deep{i - 1}"} for i in range(a)]
        data["accounts"][0]["ou"] = f"Deep{a - 1}"


def _check(text: str) -> None:
    try:
        load_config_text(text, "org.yaml")
    except ConfigError as exc:
        assert exc.issues, "a ConfigError must carry at least one located issue"
        for issue in exc.issues:
            assert LOCATED.match(issue.render()), issue.render()
            assert issue.line >= 1 and issue.column >= 1


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=3))
def test_mutated_config_is_valid_or_located_error(ops: list[tuple]) -> None:
    data = copy.deepcopy(BASE)
    for op in ops:
        try:
            _apply(data, op)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed what this one targets
    _check(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(SMALL)), st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"%@` \n\t#,?")), max_size=8))
def test_garbled_yaml_is_located_error(cut: int, garbage: str) -> None:
    _check(SMALL[:cut] + garbage + SMALL[cut:])
