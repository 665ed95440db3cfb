"""`charter demo` end to end on the embedded AWS: it leaves the HTML matrix, a verified
auditor package and the runbooks, and its summary names what it did. The optimizer's dev
stacks are deployed after the landing zone (on its real exports) and the job runs on them."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_runs_the_whole_flow(tmp_path: Path, small_config, small_config_path, monkeypatch,
                                  capsys) -> None:
    from charter.demo import Demo
    from charter.evidence.export import verify_package
    from charter.landing_zone.synth import build_plan
    from charter.naming import MEMBER_ACCESS_ROLE
    from charter.workloads.synth import synthesize_workloads

    seen: dict[str, Any] = {}

    class Observed(Demo):
        """Reads the dev account itself while the embedded AWS still runs, apart from what
        the demo reports: every workload stack's status, the landing-zone exports the
        stacks imported, and the job's record in the deployed jobs table."""

        def collect(self) -> str:
            """Every HTTP answer the embedded AWS gives the collection, by status: a 5xx would
            be retried by the SDK (and is a bug of the embedded AWS, never AWS's answer)."""
            statuses: list[tuple[int, str]] = []

            def record(client: Any) -> None:
                client.meta.events.register("needs-retry", lambda response, operation, **_: statuses.append(
                    (response[0].status_code if response and response[0] is not None else 0, operation.name)))

            self.sessions.on_client.append(record)
            try:
                return super().collect()
            finally:
                self.sessions.on_client.remove(record)
                seen["collect_statuses"] = statuses

        def workload(self) -> str:
            summary = super().workload()
            dev = self.account_ids["dev"]
            seen["stacks"] = {}
            for ps in build_plan(self.cfg, synthesize_workloads(self.cfg, "dev")).stacks:
                for region in ps.deployment.regions:
                    cfn = self.sessions.client("cloudformation", region=region, account_id=dev,
                                               role_name=MEMBER_ACCESS_ROLE)
                    seen["stacks"][f"{ps.stack_name}/{region}"] = cfn.describe_stacks(
                        StackName=ps.stack_name)["Stacks"][0]["StackStatus"]
            cfn = self.sessions.client("cloudformation", account_id=dev, role_name=MEMBER_ACCESS_ROLE)
            seen["exports"] = {e["Name"]: e["ExportingStackId"] for e in cfn.list_exports()["Exports"]}
            seen["stack_names"] = {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}
            data = next(s for s in seen["stacks"] if "-dev-data/" in s).split("/")[0]
            seen["tables"] = {r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName=data)[
                "StackResources"] if r.get("ResourceType") == "AWS::DynamoDB::Table"}
            job = self.result.facts["job"]
            ddb = self.sessions.client("dynamodb", account_id=dev, role_name=MEMBER_ACCESS_ROLE)
            seen["job_items"] = ddb.query(TableName=job["jobs_table"], KeyConditionExpression="job_id = :j",
                                          ExpressionAttributeValues={":j": {"S": job["job_id"]}})["Items"]
            seen["dev"] = dev
            return summary

    from moto.moto_api._internal.models import moto_api_backend

    from charter.cli import main

    # moto's backends live in the process: the demo starts from an empty AWS, as `charter demo` does
    moto_api_backend.reset()
    out = tmp_path / "demo"

    class Kept(Observed):
        def run(self) -> Any:
            seen["result"] = super().run()
            return seen["result"]

    # `charter demo` as a user runs it, with the observing demo in place of the plain one
    monkeypatch.setattr("charter.demo.Demo", Kept)
    monkeypatch.setattr(sys, "argv", ["charter", "demo", "-c", str(small_config_path), "--keep", str(out)])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    result = seen["result"]
    assert "demo finished" in printed.out and "optimizer workload stacks (dev)" in printed.out

    steps = [s.name for s in result.steps]
    assert steps == ["validate", "synth", "lint", "deploy landing zone", "control matrix", "collect evidence",
                     "verify evidence", "scheduled evidence run", "access review", "optimizer workload", "export auditor package",
                     "runbooks and docs"]
    facts = result.facts
    assert facts["lint_findings"] == 0
    assert facts["accounts"] >= len(small_config.accounts)
    assert facts["criteria_covered"] == 61
    assert facts["evidence_items"] > 0 and facts["verified"] is True
    # the evidence stack's state machine ran on the embedded AWS and sealed its run
    assert facts["evidence_run"]["sequence"] >= 1 and facts["evidence_run"]["manifest_sha256"]
    _evidence_as_on_aws(out, facts, seen, small_config)
    assert facts["revocations_verified"] >= 1

    # every dev workload stack is in the dev account, complete, as the demo's summary says
    stacks = seen["stacks"]
    # complete: created, or created then updated (the first workload deploy's second pass, once
    # the code artifacts are uploaded), never failed or rolled back
    assert len(stacks) >= 12 and set(stacks.values()) <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}, stacks
    assert facts["workload_stacks_deployed"] == len(stacks) and facts["workload_stacks"] == stacks
    workload_step = next(s for s in result.steps if s.name == "optimizer workload")
    assert f"{len(stacks)} workload stacks deployed" in workload_step.summary
    # the network and key the stacks import are the landing zone's own (StackSet instances),
    # not the stand-ins `charter workload deploy --local` makes on an empty embedded AWS
    assert "StackSet-charter-network-" in seen["exports"]["charter-vpc-id"]
    assert "StackSet-charter-kms-dev-" in seen["exports"]["charter-kms-key-arn"]
    assert not any(name.startswith("charter-local-") for name in seen["stack_names"])

    # the job ran as the dev account, on the jobs table the data stack made, and finished
    job = facts["job"]
    assert job["status"] == "SUCCEEDED" and job["account"] == seen["dev"]
    assert job["jobs_table"] in seen["tables"]
    assert [i["status"]["S"] for i in seen["job_items"]] == ["SUCCEEDED"]
    assert abs(sum(job["weights"].values()) - 1) < 1e-6

    matrix = result.paths["control matrix"].read_text()
    assert "CC6.1" in matrix and "PI1.5" in matrix
    package = result.paths["auditor package"]
    assert verify_package(package).ok
    with zipfile.ZipFile(package) as z:
        assert {"index.html", "evidence.xlsx"} <= set(z.namelist())
    assert (out / "runbooks" / "incident-response.html").exists()
    assert (out / "docs" / "architecture.svg").exists()


def _evidence_as_on_aws(out: Path, facts: dict[str, Any], seen: dict[str, Any], cfg: Any) -> None:
    """The demo's evidence right after the deploy: the organization trail covers every
    account and region (LOG-01), few gaps, each naming what the embedded AWS cannot answer,
    and no answer the SDK would retry."""
    from charter.evidence.store import EvidenceStore, open_backend

    store = EvidenceStore(open_backend(str(out / "evidence")))
    manifest = next(m for m in store.manifests() if any(e.collector == "cloudtrail" for e in m.artifacts))
    from charter.evidence.artifact import Artifact

    artifacts = [Artifact.model_validate_json(store.backend.get(e.path)) for e in manifest.artifacts]
    trails = [a for a in artifacts if a.collector == "cloudtrail" and a.kind == "evidence"]
    covered = {(a.account_id, a.region) for a in trails}
    assert len(covered) == facts["accounts"] * len(cfg.organization.governed_regions)
    failing = [(a.account_id, a.region, p.id, p.reason) for a in trails for p in a.population
               if p.control == "LOG-01" and p.result != "pass"]
    assert failing == []
    gaps = [a for a in artifacts if a.kind == "gap"]
    assert len(gaps) == facts["evidence_gaps"] <= 10, [g.error for g in gaps]
    for gap in gaps:
        assert "embedded AWS" in (gap.error or ""), gap.error
    assert seen["collect_statuses"], "the hook saw no answer"
    assert [s for s in seen["collect_statuses"] if s[0] >= 500] == []
