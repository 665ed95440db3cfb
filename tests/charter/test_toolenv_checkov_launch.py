"""checkov through Charter's launcher: bc-jsonpath-ng's parser is built once per grammar, only
over the exact function the cache was written against, and checkov reports what it reports
without it. These run in checkov's own environment (`charter tools install`), as `charter lint`
does; an upgrade of checkov or bc-jsonpath-ng that changes what the launcher patches fails here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from troposphere import Template
from troposphere.s3 import Bucket

from charter.landing_zone.synth import dump_yaml
from charter.toolenv import LAUNCHER, checkov_command, checkov_env, ensure_checkov, parse_report

#: Runs in checkov's environment: the launcher loaded by path (as `charter lint` runs it), PLY's
#: table builds counted, parses compared with the released function's.
PROBE = r"""
import json, runpy, sys, threading
import ply.yacc
from bc_jsonpath_ng.parser import JsonPathParser
from bc_jsonpath_ng.ext.parser import ExtentedJsonPathParser
launch = runpy.run_path(sys.argv[1])
released = JsonPathParser.parse_token_stream
paths = ["Resources.*.Properties.BucketName", "a.b[0].c", "x[*].y"]
as_released = [repr(JsonPathParser().parse(p)) for p in paths]
builds = []
real = ply.yacc.yacc
def counted(*a, **k):
    builds.append(type(k["module"]).__name__)
    return real(*a, **k)
ply.yacc.yacc = counted
out = {"hash_matches": launch["replaced_source_sha256"]() == launch["REPLACED_SOURCE_SHA256"],
       "installed": launch["install_parser_cache"]()}
out["replaced"] = JsonPathParser.parse_token_stream is not released
out["patched_is_launchers"] = JsonPathParser.parse_token_stream is launch["parse_token_stream"]
out["same_parses"] = [repr(JsonPathParser().parse(p)) for p in paths] == as_released
out["builds_main_thread"] = list(builds)
ExtentedJsonPathParser().parse("a[?b > 1]")
ExtentedJsonPathParser().parse("c[?d == 'e']")
out["builds_with_ext"] = list(builds)
other = threading.Thread(target=lambda: JsonPathParser().parse("q.r"))
other.start(); other.join()
out["builds_with_thread"] = list(builds)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def env_python() -> Path:
    ensure_checkov()
    return checkov_env() / "bin" / "python"


def test_the_cache_replaces_exactly_the_released_function_and_builds_once_per_grammar(env_python: Path) -> None:
    proc = subprocess.run([str(env_python), "-I", "-c", PROBE, str(LAUNCHER)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    # bc-jsonpath-ng's parse_token_stream is still the one the upstream patch was written against
    # (a new pin that changes it fails here: re-check docs/upstream and the launcher)
    assert out["hash_matches"] and out["installed"]
    assert out["replaced"] and out["patched_is_launchers"]
    # three distinct paths, one table build; the parses equal the released function's
    assert out["builds_main_thread"] == ["JsonPathParser"]
    assert out["same_parses"]
    # the extended grammar is another grammar: its own parser, once for two paths
    assert out["builds_with_ext"] == ["JsonPathParser", "ExtentedJsonPathParser"]
    # PLY's parser keeps its stacks on itself: another thread builds its own
    assert out["builds_with_thread"] == ["JsonPathParser", "ExtentedJsonPathParser", "JsonPathParser"]


def _checkov(cmd: list[str], template: Path) -> list[tuple[str, str, str, str]]:
    proc = subprocess.run([*cmd, "--framework", "cloudformation", "--output", "json", "--soft-fail", "--compact",
                           "--skip-download", "--file", str(template)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = parse_report(proc.stdout)
    return sorted((state, c["check_id"], c["resource"], str(c["file_line_range"]))
                  for state, checks in (("failed", result.failed), ("passed", result.passed),
                                        ("skipped", result.skipped)) for c in checks)


@pytest.mark.slow
def test_checkov_through_the_launcher_reports_what_checkov_as_released_reports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARTER_CHECKOV", raising=False)
    t = Template()
    t.add_resource(Bucket("Naked"))  # failed checks, and graph checks that parse JSONPaths
    template = tmp_path / "bad.yaml"
    template.write_text(dump_yaml(t.to_dict()))
    released = ensure_checkov()
    launched = checkov_command(released)
    assert launched[-1] == str(LAUNCHER)  # Charter's own environment runs through the launcher
    with_cache, as_released = _checkov(launched, template), _checkov([str(released)], template)
    assert with_cache == as_released
    assert any(s == "failed" and c == "CKV_AWS_18" for s, c, *_ in with_cache)


def test_an_override_runs_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    # even when CHARTER_CHECKOV names the very checkov Charter installed: the user chose how it runs
    exe = checkov_env() / "bin" / "checkov"
    monkeypatch.setenv("CHARTER_CHECKOV", str(exe))
    assert checkov_command(exe) == [str(exe)]
    monkeypatch.delenv("CHARTER_CHECKOV")
    assert checkov_command(exe)[1:] == ["-I", str(LAUNCHER)]


def test_the_launcher_imports_only_what_checkovs_environment_has() -> None:
    # it runs by path in checkov's environment, where there is no `charter` and no Charter dependency
    import ast
    import sys

    tree = ast.parse(LAUNCHER.read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    assert roots - set(sys.stdlib_module_names) == {"bc_jsonpath_ng", "checkov"}
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))
