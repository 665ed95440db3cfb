"""Every Lambda Charter ships imports its handler from its artifact alone.

The functions are found in the synthesized templates (the landing zone's and the optimizer
workload's), so a new function is covered without touching this test. Each handler is
imported by the embedded AWS's Lambda runtime (`charter.local.lambda_runtime`) from the same
zip deploy uploads (or that CloudFormation makes of inline code), in an interpreter whose
path holds only that artifact, its layers, the runtime's boto3 and, for third-party
packages the offline build leaves to the host, this machine's site-packages; never
Charter's own code from the host. An artifact missing a module it imports fails here.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from charter.landing_zone.config import load_config
from charter.landing_zone.deploy.assets import package_zip
from charter.landing_zone.synth import synthesize
from charter.local import lambda_runtime
from charter.workloads.package import handlers_zip_bytes
from charter.workloads.synth import synthesize_workloads

REPO = Path(__file__).resolve().parents[2]
#: Functions that are not zip artifacts, and why they are not imported here.
NOT_ZIP = {"RiskFunction": "a container image (workloads/container/risk.Dockerfile) unpacking the same handlers zip"}


def _functions() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(stack, logical id, function properties, the stack's facts) of every Lambda function."""
    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    out = []
    for stack in [*synthesize(cfg), *synthesize_workloads(cfg, "dev")]:
        for lid, res in (stack.data.get("Resources") or {}).items():
            if res.get("Type") == "AWS::Lambda::Function":
                out.append((stack.name, lid, res["Properties"], dict(stack.spec.facts)))
    return out


FUNCTIONS = _functions()


def _inline_zip(code: str) -> bytes:
    """What CloudFormation makes of `Code.ZipFile` for Python: index.py, with cfnresponse."""
    from moto.packages.cfnresponse import cfnresponse

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", code)
        zf.writestr("cfnresponse.py", Path(cfnresponse.__file__).read_text())
    return buf.getvalue()


def _artifact(props: dict[str, Any], facts: dict[str, Any]) -> tuple[bytes, list[bytes]]:
    code = props["Code"]
    if "ZipFile" in code:
        return _inline_zip(code["ZipFile"]), []
    key = code["S3Key"]["Ref"] if isinstance(code.get("S3Key"), dict) else None
    asset = next((a for a in facts.get("assets") or [] if a.get("parameter") == key), None)
    if asset is not None:  # a landing-zone asset: built as deploy builds it
        return package_zip(load_config(REPO / "examples" / "small" / "org.yaml"), asset), []
    # the optimizer's handlers zip, as `charter workload package` and deploy build it; its
    # layer's third-party packages come from the host (no PyPI offline)
    return handlers_zip_bytes(), []


def _check(code: bytes, layers: list[bytes], handler: str) -> lambda_runtime.Invocation:
    return lambda_runtime.run(code, layers, handler=handler, runtime="python3.12", env={"AWS_REGION": "us-east-1"},
                              event={}, timeout=60, function_arn="arn:aws:lambda:us-east-1:123456789012:function:t",
                              memory=128, log_group="/aws/lambda/t", log_stream="s", host_third_party=True, check=True)


def test_every_function_of_the_templates_is_found() -> None:
    handlers = {p.get("Handler") for _, lid, p, _ in FUNCTIONS if lid not in NOT_ZIP}
    assert {"index.handler", "charter.evidence.continuous.handler", "charter.workloads.handlers.api.submit",
            "charter.workloads.handlers.ws_authorizer.handler", "charter.workloads.handlers.secret_reminders.handler"} <= handlers


@pytest.mark.parametrize("stack,lid,props,facts", [f for f in FUNCTIONS if f[1] not in NOT_ZIP],
                         ids=[f"{f[0]}:{f[1]}" for f in FUNCTIONS if f[1] not in NOT_ZIP])
def test_the_handler_imports_from_its_artifact_alone(stack: str, lid: str, props: dict, facts: dict) -> None:
    code, layers = _artifact(props, facts)
    result = _check(code, layers, props["Handler"])
    assert not result.errored, f"{stack}/{lid} {props['Handler']}: {result.payload}\n{result.logs}"
    origin = json.loads(result.payload)["module"]
    assert "charter-lambda" in origin, f"{props['Handler']} came from {origin}, not from its artifact"


def test_an_artifact_missing_a_module_it_imports_fails() -> None:
    """The proof that the test above can fail: the evidence collector's zip without one of its
    modules does not import, with Lambda's error naming the module."""
    _, _, props, facts = next(f for f in FUNCTIONS if f[2].get("Handler") == "charter.evidence.continuous.handler")
    code, _ = _artifact(props, facts)
    source = zipfile.ZipFile(io.BytesIO(code))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for info in source.infolist():
            if info.filename != "charter/evidence/store.py":
                zf.writestr(info, source.read(info))
    result = _check(buf.getvalue(), [], props["Handler"])
    assert result.errored
    error = json.loads(result.payload)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "charter.evidence.store" in error["errorMessage"]


def test_the_evidence_collector_ships_no_landing_zone_builder() -> None:
    """Its package is the import closure of the handler: nothing of the landing zone (the config
    model, the naming contract and the Config rule table are on the ground floor), no awacs,
    no troposphere."""
    _, _, props, facts = next(f for f in FUNCTIONS if f[2].get("Handler") == "charter.evidence.continuous.handler")
    names = zipfile.ZipFile(io.BytesIO(_artifact(props, facts)[0])).namelist()
    assert not [n for n in names if n.startswith(("charter/landing_zone/", "awacs/", "troposphere/"))]
    assert {"charter/config/model.py", "charter/naming.py", "charter/managed_rules.py"} <= set(names)
    assert "org.json" in names and "evidence-sources.json" in names
    assert "charter/evidence/collectors/organizations.py" in names
    sources = json.loads(zipfile.ZipFile(io.BytesIO(_artifact(props, facts)[0])).read("evidence-sources.json"))
    assert sources["organizations"]["scp_statements"], "the SCP statements org.yaml expects are in the package"

