"""Every AWS limit a config can exceed is Charter's own error, naming the stack, the limit and
the setting; `charter validate` and `charter synth` both check them; no troposphere error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from charter.config.grow import grow
from charter.errors import ConfigError, LimitError
from charter.landing_zone.builders import organization
from charter.landing_zone.config import load_config, load_config_text
from charter.landing_zone.limits import template_breaches
from charter.landing_zone.synth import synthesize

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"
LARGE = REPO / "examples" / "large" / "org.yaml"


def charter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "charter.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=600)


def with_limits(path: Path, tmp_path: Path, **limits: object) -> Path:
    data = yaml.safe_load(path.read_text())
    data.setdefault("limits", {}).update(limits)
    out = tmp_path / "org.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


@pytest.mark.parametrize("command", ["validate", "synth"])
def test_a_template_limit_is_named_with_its_stack_and_setting_by_validate_and_synth(tmp_path: Path,
                                                                                     command: str) -> None:
    # the identity stack has one output per permission set (4 in the small example)
    config = with_limits(SMALL, tmp_path, template_max_outputs=3)
    args = ["-c", str(config)] + (["-o", str(tmp_path / "out")] if command == "synth" else [])
    result = charter(command, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "stack 'identity': 4 outputs per template, AWS allows 3 (limits.template_max_outputs)" in result.stderr
    assert "it grows with baseline.identity.permission_sets" in result.stderr
    assert "fix:" in result.stderr
    assert not (tmp_path / "out").exists(), "nothing is written when a limit is broken"


def test_every_breach_is_reported_at_once(small_config) -> None:
    cfg = small_config.model_copy(update={"limits": small_config.limits.model_copy(
        update={"template_max_resources": 20, "stackset_max_instances": 5})})
    with pytest.raises(LimitError) as info:
        synthesize(cfg)
    message = info.value.message
    assert message.startswith(f"{message.count(chr(10))} AWS limits exceeded")
    assert "stack 'network': 73 resources per template, AWS allows 20 (limits.template_max_resources)" in message
    # service-managed StackSet to Root in the home region: every member account once
    assert "stack 'identity-roles': 6 stack instances (accounts x regions), AWS allows 5" in message


def test_troposphere_limit_inside_a_builder_is_a_limit_error_naming_the_builder(tmp_path: Path) -> None:
    data = yaml.safe_load(SMALL.read_text())
    data["baseline"]["network"] = {"interface_endpoints": [f"service{i}" for i in range(500)]}
    config = tmp_path / "org.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    result = charter("validate", "-c", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "ValueError" not in result.stderr
    assert "builder 'network'" in result.stderr and "more than 500 resources" in result.stderr
    assert "baseline.network.interface_endpoints" in result.stderr


def test_organizations_quotas_are_located_config_errors() -> None:
    text = SMALL.read_text() + "\nlimits:\n  org_max_accounts: 5\n  org_max_ous: 4\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "org.yaml")
    rendered = [i.render() for i in info.value.issues]
    assert any(r.startswith("org.yaml:") and "6 accounts; the organization's account quota is 5 "
               "(limits.org_max_accounts)" in r for r in rendered), rendered
    assert any("5 OUs; AWS Organizations allows 4 per organization (limits.org_max_ous)" in r for r in rendered)


def test_an_account_email_longer_than_create_account_accepts_is_located() -> None:
    long = "aws+" + "x" * 60 + "@acme-corp.example"
    text = SMALL.read_text().replace("aws+dev@acme-corp.example", long, 1)
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "org.yaml")
    (issue,) = info.value.issues
    assert issue.path.endswith(".email") and "CreateAccount accepts 64" in issue.message
    assert text.splitlines()[issue.line - 1].strip().startswith("email:")


def test_template_breaches_cover_every_template_limit(small_config) -> None:
    lim = small_config.limits.model_copy(update={"template_max_mappings": 1, "template_max_mapping_attributes": 2,
                                                 "template_max_dynamic_references": 1,
                                                 "template_max_description_bytes": 10})
    data = {
        "Description": "x" * 11,
        "Mappings": {"A": {"k1": {}, "k2": {}, "k3": {}}, "B": {}},
        "Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Value": "{{resolve:ssm:/a}}{{resolve:ssm:/b}}"}}, "L" * 256: {"Type": "AWS::SNS::Topic"}},
    }
    limits = {b.setting for b in template_breaches("t", data, 2_000_000, lim)}
    assert limits == {"template_max_mappings", "template_max_mapping_attributes", "template_max_dynamic_references",
                      "template_max_description_bytes", "template_max_bytes_s3", "template_max_name_chars"}


def test_the_ou_tree_continues_in_more_templates_each_within_the_limits() -> None:
    cfg = grow(load_config(LARGE), 600, accounts_per_ou=2)  # ~450 OUs
    cfg = cfg.model_copy(update={"limits": cfg.limits.model_copy(update={"template_max_resources": 100,
                                                                         "template_max_parameters": 20})})
    specs = organization.build(cfg)
    assert [s.name for s in specs] == organization.stack_names(len(specs)) and len(specs) >= 5
    made: dict[str, str] = {}  # OU logical id -> the template that makes it
    for spec in specs:
        data = spec.template.to_dict()
        assert len(data["Resources"]) <= 100 and len(data.get("Parameters", {})) <= 20
        assert spec.deployment.kind == "organizations"
        for lid, res in data["Resources"].items():
            if res["Type"] != "AWS::Organizations::OrganizationalUnit":
                continue
            assert lid not in made
            made[lid] = spec.name
            parent = res["Properties"]["ParentId"]["Ref"]
            if parent in data["Resources"] or parent == "RootId":
                continue
            # a parent made by an earlier template is a parameter of this one, OU-id shaped
            assert parent.endswith("Id") and made.get(parent[:-2]) not in (None, spec.name)
            assert data["Parameters"][parent]["AllowedPattern"] == organization.OU_ID_PATTERN
    assert len(made) == len(cfg.ous)
    policies = [r for s in specs for r in s.template.to_dict()["Resources"].values()
                if r["Type"] == "AWS::Organizations::Policy"]
    assert policies, "the SCPs are in the last template"


def test_no_stack_grows_with_the_number_of_accounts(small_config) -> None:
    def sizes(cfg):
        return {s.name: (len(s.data["Resources"]), len(s.data.get("Parameters", {})), len(s.body))
                for s in synthesize(cfg)}

    base = sizes(grow(small_config, 50))
    bigger = sizes(grow(small_config, 400))
    # the OUs the grown accounts need are the only difference (the organization templates)
    changed = {name for name in base if base[name] != bigger[name]}
    assert changed <= {"organization"}, changed
    assert set(base) == set(bigger)
