"""SCP packing: as few policies as the limits allow, measured minified, with clear errors."""

from __future__ import annotations

import json

import pytest

from charter.config.model import Limits
from charter.errors import LimitError
from charter.landing_zone.scp.guardrails import GUARDRAILS
from charter.landing_zone.scp.packing import ScpStatement, collect_statements, minify, pack


def _with_limits(cfg, **limits):
    return cfg.model_copy(update={"limits": Limits(**limits)})


def _stmt(sid: str, size: int, targets=("Workloads",)) -> ScpStatement:
    """A statement whose minified JSON is exactly `size` characters."""
    body = {"Sid": sid, "Effect": "Deny", "Action": ["s3:GetObject"], "Resource": [""]}
    pad = size - len(minify(body))
    assert pad >= 0
    body["Resource"] = ["x" * pad]
    stmt = ScpStatement("ORG-03", targets, body)
    assert stmt.size == size
    return stmt


def test_default_guardrails_fit_in_one_policy_per_target(small_config) -> None:
    policies = pack(small_config)
    by_target = {}
    for p in policies:
        assert p.size <= small_config.limits.scp_max_chars
        assert p.size == len(minify(p.document))
        for t in p.targets:
            by_target.setdefault(t, []).append(p)
    assert set(by_target) == {"Security", "Workloads", "Suspended"}
    assert all(len(ps) == 1 for ps in by_target.values())


def test_every_guardrail_statement_carries_its_control_id(small_config) -> None:
    stmts = collect_statements(small_config)
    controls = {s.control for s in stmts}
    assert {g.control for g in GUARDRAILS.values()} <= controls
    for s in stmts:
        assert s.sid.startswith(s.control.replace("-", "")), s.sid


def test_exactly_at_the_limit_fits_one_policy(small_config) -> None:
    # envelope {"Version":"2012-10-17","Statement":[]} is 39 chars; two statements + a comma
    limit = 39 + 1000 + 1 + 1000
    cfg = _with_limits(small_config, scp_max_chars=limit)
    policies = pack(cfg, [_stmt("A", 1000), _stmt("B", 1000)])
    assert len(policies) == 1 and policies[0].size == limit


def test_one_character_over_splits_into_two(small_config) -> None:
    cfg = _with_limits(small_config, scp_max_chars=39 + 1000 + 1 + 1000 - 1)
    policies = pack(cfg, [_stmt("A", 1000), _stmt("B", 1000)])
    assert len(policies) == 2
    assert all(p.size <= cfg.limits.scp_max_chars for p in policies)


def test_first_fit_decreasing_uses_few_policies(small_config) -> None:
    cfg = _with_limits(small_config, scp_max_chars=1039)
    sizes = [600, 400, 500, 300, 200, 490, 100]
    policies = pack(cfg, [_stmt(f"S{i}", s) for i, s in enumerate(sizes)])
    # total 2590 chars at ~1000 usable per policy: three policies are the optimum
    assert len(policies) == 3
    assert sorted(s.sid for p in policies for s in p.statements) == sorted(f"S{i}" for i in range(7))


def test_full_aws_access_takes_a_slot(small_config) -> None:
    stmts = [_stmt(f"S{i}", 900) for i in range(10)]  # one statement per policy at this limit
    cfg = _with_limits(small_config, scp_max_chars=1000, scp_max_per_target=10)
    with pytest.raises(LimitError) as info:
        pack(cfg, stmts)
    message = info.value.render()
    assert "OU 'Workloads' need 10 policies" in message and "only 9 can be attached" in message
    assert "FullAWSAccess takes one" in message and "scps.exclude" in message
    assert len(pack(_with_limits(small_config, scp_max_chars=1000, scp_max_per_target=10,
                                 full_aws_access_takes_slot=False), stmts)) == 10


def test_old_limits_still_supported(small_config) -> None:
    """Before 2026-05-15 AWS allowed 5,120 characters and 5 SCPs per target."""
    cfg = _with_limits(small_config, scp_max_chars=5120, scp_max_per_target=5)
    policies = pack(cfg)
    assert all(p.size <= 5120 for p in policies)
    assert max(sum(1 for p in policies if t in p.targets) for t in ("Workloads", "Security")) <= 4


def test_single_statement_too_large(small_config) -> None:
    cfg = _with_limits(small_config, scp_max_chars=500)
    with pytest.raises(LimitError) as info:
        pack(cfg, [_stmt("Huge", 600)])
    assert "SCP statement Huge (ORG-03)" in info.value.render()


def test_packing_is_deterministic(small_config) -> None:
    a = [json.dumps(p.document, sort_keys=True) for p in pack(small_config)]
    b = [json.dumps(p.document, sort_keys=True) for p in pack(small_config)]
    assert a == b


def test_region_guardrail_denies_outside_governed_regions(small_config) -> None:
    stmts = {s.sid: s.body for s in collect_statements(small_config)}
    region = stmts["ORG03DenyUngovernedRegions"]
    assert region["Condition"]["StringNotEquals"]["aws:RequestedRegion"] == ["us-east-1", "us-west-2"]
    assert "iam:*" in region["NotAction"] and "sts:*" in region["NotAction"]
    assert stmts["ORG05DenyAllSuspended"]["Action"] == ["*"]


def test_excluded_guardrail_is_left_out(small_config) -> None:
    from charter.config.model import ScpSettings

    scps = ScpSettings(**{**small_config.scps.model_dump(), "exclude": ["deny-root-user"]})
    cfg = small_config.model_copy(update={"scps": scps})
    assert "IAM02DenyRootUser" not in {s.sid for s in collect_statements(cfg)}
