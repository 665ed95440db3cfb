"""`charter demo`: the whole of Charter, on a laptop, against the embedded AWS.

validate -> synth -> lint -> deploy the landing zone -> control matrix -> collect evidence
-> verify -> a quarterly access review with scripted decisions -> the optimizer's dev
stacks deployed on the landing zone, and one job through the local API on them -> auditor
package -> runbooks and docs.

Every step calls the same code the individual commands call; the demo only wires them
together and scripts the people (reviewers filling workbooks).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter.aws import SessionFactory
from charter.config.model import OrgConfig


@dataclass
class StepResult:
    name: str
    seconds: float
    summary: str


@dataclass
class DemoResult:
    out: Path
    steps: list[StepResult] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


def _quarter(now: datetime) -> str:
    return f"{now.year}Q{(now.month - 1) // 3 + 1}"


def seed_review_population(sessions: SessionFactory, cfg: OrgConfig, account_ids: dict[str, str]) -> list[str]:
    """Give the workload accounts people to review: a developer to keep and a departed
    contractor (console, an access key, admin policy) whose access the review revokes."""
    seeded = []
    for acct in cfg.accounts:
        if acct.environment not in ("dev", "staging", "prod") or acct.name not in account_ids:
            continue
        iam = sessions.client("iam", account_id=account_ids[acct.name], role_name="OrganizationAccountAccessRole")
        for user, policy in (("developer", "ReadOnlyAccess"), ("contractor-departed", "AdministratorAccess")):
            iam.create_user(UserName=user)
            iam.create_login_profile(UserName=user, Password="Demo-Only-Passw0rd!")
            iam.attach_user_policy(UserName=user, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
        iam.create_access_key(UserName="contractor-departed")
        seeded.append(acct.name)
    return seeded


def _fill_workbook(path: Path) -> dict[str, int]:
    """What a reviewer does in Excel: revoke the departed contractor, keep everyone else."""
    from openpyxl import load_workbook

    from charter.evidence.access_review.workbook import HEADERS, REVIEW_SHEET

    wb = load_workbook(path)
    ws = wb[REVIEW_SHEET]
    col = {name: i + 1 for i, name in enumerate(HEADERS)}
    counts = {"keep": 0, "revoke": 0}
    for line in range(2, ws.max_row + 1):
        principal = str(ws.cell(line, col["principal"]).value or "")
        decision = "revoke" if principal == "contractor-departed" else "keep"
        ws.cell(line, col["decision"]).value = decision
        ws.cell(line, col["comment"]).value = "left the company (demo)" if decision == "revoke" else ""
        counts[decision] += 1
    wb.save(path)
    return counts


class Demo:
    def __init__(self, cfg: OrgConfig, config_path: Path, out: Path,
                 on_step: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.result = DemoResult(out=out)
        self.on_step = on_step or (lambda name: None)

    def step(self, name: str, fn: Callable[[], str]) -> None:
        self.on_step(name)
        start = time.perf_counter()
        summary = fn()
        self.result.steps.append(StepResult(name, time.perf_counter() - start, summary))

    def run(self) -> DemoResult:
        from charter.local import LocalAws

        out = self.result.out
        out.mkdir(parents=True, exist_ok=True)
        self.step("validate", self.validate)
        self.step("synth", self.synth)
        self.step("lint", self.lint)
        with LocalAws(region=self.cfg.organization.home_region) as aws:
            self.sessions = aws.sessions()
            self.aws_app = aws.wsgi_app()
            self.step("deploy landing zone", self.deploy)
            self.step("control matrix", self.matrix)
            self.step("collect evidence", self.collect)
            self.step("verify evidence", self.verify)
            self.step("scheduled evidence run", self.evidence_run)
            self.step("access review", self.access_review)
            self.step("optimizer workload", self.workload)
            self.step("export auditor package", self.export)
        self.step("runbooks and docs", self.runbooks)
        self.console()
        return self.result

    def console(self) -> None:
        """Where the web console shows what the demo produced: `charter console` serves the
        compliance face of the demo's evidence store at this URL (the embedded AWS, and with
        it the optimizer API, stop with the demo; `charter workload serve --local --store`
        serves both faces)."""
        from charter.commands.console import DEFAULT_PORT

        store = self.result.out / "evidence"
        url = f"http://127.0.0.1:{DEFAULT_PORT}/#/compliance"
        self.result.facts["console_url"] = url
        self.result.facts["console_command"] = f"charter console --store {store}"

    # -- the steps --------------------------------------------------------------------
    def validate(self) -> str:
        cfg = self.cfg
        return f"{len(cfg.accounts)} accounts, {len(cfg.ous)} OUs, regions {', '.join(cfg.organization.governed_regions)}"

    def synth(self) -> str:
        from charter.landing_zone.synth import build_plan, synthesize, write_output

        self.stacks = synthesize(self.cfg)
        self.synth_dir = self.result.out / "synth"
        plan = build_plan(self.cfg, self.stacks, self.config_path.read_text())
        write_output(self.stacks, plan, self.synth_dir)
        self.result.facts["stacks"] = len(self.stacks)
        self.result.facts["resources"] = sum(s.resources for s in plan.stacks)
        return f"{len(self.stacks)} stacks, {self.result.facts['resources']} resources"

    def lint(self) -> str:
        from charter.landing_zone.lint import Linter

        report = Linter(self.cfg.organization.governed_regions).lint_dir(self.synth_dir)
        self.result.facts["lint_findings"] = len(report.findings)
        self.result.facts["suppressions"] = len(report.suppressions)
        if report.findings:
            raise DemoFailed("lint", "\n".join(f.render() for f in report.findings[:10]))
        return (f"0 cfn-lint and 0 checkov findings ({report.checkov_passed} checkov checks passed), "
                f"{len(report.suppressions)} justified suppressions")

    def deploy(self) -> str:
        from charter.landing_zone.deploy.engine import deploy

        result = deploy(self.cfg, self.synth_dir, self.sessions)
        if not result.ok:
            raise DemoFailed("deploy", "\n".join(result.failures[:10]))
        org = self.sessions.client("organizations")
        from charter.aws import paginate

        accounts = paginate(org, "list_accounts", "Accounts").items
        self.account_ids = {a["Name"]: a["Id"] for a in accounts}
        self.result.facts["accounts"] = len(accounts)
        return f"{len(accounts)} accounts, {len(result.changes)} changes in {result.elapsed:.1f}s"

    def matrix(self) -> str:
        from charter.controls.matrix import compute_matrix, render

        matrix = compute_matrix(self.cfg, stacks=self.stacks, extra_stacks=self._workload_stacks())
        path = self.result.out / "control-matrix.html"
        path.write_text(render(matrix, "html"))
        self.result.paths["control matrix"] = path
        summary = matrix.summary
        self.result.facts["criteria_automated"] = summary.criteria_automated
        self.result.facts["criteria_covered"] = summary.criteria_with_controls
        self.result.facts["controls_by_status"] = summary.controls_by_status
        return (f"{summary.criteria_with_controls} of {summary.criteria_total} criteria covered, "
                f"{summary.criteria_automated} automated; {len(summary.gaps)} control gaps")

    def _workload_stacks(self) -> list[Any]:
        if getattr(self.cfg, "workloads", None) is None:
            return []
        from charter.workloads.synth import synthesize_workloads

        return [s for env in ("dev",) for s in synthesize_workloads(self.cfg, env)]

    def _store(self):
        from charter.evidence.signing import LocalSigner
        from charter.evidence.store import EvidenceStore, open_backend

        backend = open_backend(str(self.result.out / "evidence"))
        return EvidenceStore(backend), LocalSigner.for_directory(self.result.out / "signing-key")

    def _operator(self):  # type: ignore[no-untyped-def]
        """Reads go through the evidence operator role, as an operator's CLI does (the
        evidence reader trusts only it and the scheduled collector)."""
        from charter.aws import acting_as
        from charter.naming import EVIDENCE_OPERATOR_ROLE

        return acting_as(self.sessions, EVIDENCE_OPERATOR_ROLE)

    def collect(self) -> str:
        from charter.evidence.continuous import collect_to_store
        from charter.landing_zone.scp.expected import evidence_sources

        store, signer = self._store()
        reader = self._operator()
        result = collect_to_store(store, reader, self.cfg, signer, caller_arn=reader.caller_arn(),
                                  sources=evidence_sources(self.cfg))
        self.result.facts["evidence_items"] = len(result.manifest.artifacts) if result.manifest else 0
        self.result.facts["evidence_gaps"] = len(result.gaps)
        return f"{self.result.facts['evidence_items']} artifacts, {len(result.gaps)} gaps, manifest signed"

    def verify(self) -> str:
        from charter.evidence.verify import verify

        store, _ = self._store()
        report = verify(store.backend)
        self.result.facts["verified"] = report.ok
        if not report.ok:
            raise DemoFailed("verify", "\n".join(p.render() for p in report.problems[:10]))
        return "hash chain, signatures and every artifact intact"

    def evidence_run(self) -> str:
        """What the schedule starts in the audit account: the evidence run's state machine
        (Distributed Map over account batches), executed by the embedded AWS with its Lambda
        tasks running from the deployed code asset, sealed into the S3 evidence store."""
        from charter.landing_zone.builders.evidence_statemachine import state_machine_name
        from charter.naming import MEMBER_ACCESS_ROLE

        audit = self.account_ids[self.cfg.account("audit").name]
        region = self.cfg.organization.home_region
        sfn = self.sessions.client("stepfunctions", account_id=audit, role_name=MEMBER_ACCESS_ROLE)
        machine = f"arn:aws:states:{region}:{audit}:stateMachine:{state_machine_name(self.cfg)}"
        execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        deadline = time.monotonic() + 1800  # the batch Lambda's 900 s, twice, and Plan and Seal
        described = sfn.describe_execution(executionArn=execution)
        while described["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(1)
            described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "SUCCEEDED":
            raise DemoFailed("scheduled evidence run", f"{execution} {described['status']}: "
                                                       f"{described.get('error')}: {described.get('cause')}")
        sealed = json.loads(described["output"])["sealed"]
        self.result.facts["evidence_run"] = {"execution": execution, **sealed}
        return f"state machine run {sealed['run_id']} sealed as manifest #{sealed['sequence']} in the S3 evidence store"

    def access_review(self) -> str:
        from charter.evidence.access_review import campaign as camp
        from charter.evidence.access_review.ledger import seal_campaign
        from charter.evidence.manifest import Scope

        seed_review_population(self.sessions, self.cfg, self.account_ids)
        state = self.result.out / "access-reviews"
        quarter = _quarter(datetime.now(UTC))
        _, snapshot, books = camp.start(self._operator(), self.cfg, quarter, state)
        for book in books:
            _fill_workbook(book)
            camp.record(book, state)
        report = camp.close(self.sessions, self.cfg, quarter, state, apply=True, read_sessions=self._operator())
        store, signer = self._store()
        caller = self.sessions.caller_arn()
        home = self.cfg.organization.home_region
        seal_campaign(store, [camp.snapshot_artifact(snapshot, quarter, home), camp.report_artifact(report, caller, home)],
                      signer, Scope(organization=self.cfg.organization.name, collectors=["access_review"]),
                      caller_arn=caller)
        self.result.facts["access_rows"] = len(snapshot.rows)
        self.result.facts["revocations_verified"] = sum(r.verified for r in report.revocations)
        return (f"{quarter}: {len(snapshot.rows)} accesses, {len(books)} reviewers, "
                f"{len(report.revocations)} revocations applied and verified")

    def workload(self) -> str:
        if getattr(self.cfg, "workloads", None) is None:
            return "skipped: no `workloads:` section in the config"
        from charter.workloads.demo import run_demo_job

        env = "dev"
        deployed = self.deploy_workload(env)
        outcome = run_demo_job(self.cfg, self.sessions, self.result.out / "workload", env=env,
                               account_id=self.account_ids[self._workload_account(env)], aws_app=self.aws_app)
        self.result.facts["job"] = outcome
        return f"{deployed}; {outcome.get('summary', json.dumps(outcome)[:200])}"

    def _workload_account(self, env: str) -> str:
        from charter.config.workloads import workload_account

        return workload_account(self.cfg, env)

    def deploy_workload(self, env: str) -> str:
        """The optimizer's stacks of `env` into its account, after the landing zone: the same
        `charter workload deploy` path, importing the landing zone's real key and network
        exports. Each stack's CloudFormation status is read back from the account."""
        import botocore.exceptions

        from charter.naming import MEMBER_ACCESS_ROLE
        from charter.workloads.deploy import deploy_workload

        result = deploy_workload(self.cfg, env, self.sessions, self.result.out / "workload" / "stacks", local=True,
                                 config_text=self.config_path.read_text())
        if not result.ok:
            raise DemoFailed("optimizer workload", "\n".join(result.failures[:10]))
        status: dict[str, str] = {}
        for ps in result.plan.stacks:
            account = self.account_ids[ps.deployment.account or self._workload_account(env)]
            for region in ps.deployment.regions:
                cfn = self.sessions.client("cloudformation", region=region, account_id=account,
                                           role_name=MEMBER_ACCESS_ROLE)
                try:
                    status[f"{ps.stack_name}/{region}"] = cfn.describe_stacks(StackName=ps.stack_name)["Stacks"][0][
                        "StackStatus"]
                except botocore.exceptions.ClientError as exc:
                    status[f"{ps.stack_name}/{region}"] = f"missing ({exc.response['Error'].get('Message', '')})"
        self.result.facts["workload_stacks"] = status
        complete = sum(s in ("CREATE_COMPLETE", "UPDATE_COMPLETE") for s in status.values())
        self.result.facts["workload_stacks_deployed"] = complete
        if complete != len(status):
            raise DemoFailed("optimizer workload", "\n".join(f"{k}: {v}" for k, v in sorted(status.items())
                                                              if v not in ("CREATE_COMPLETE", "UPDATE_COMPLETE")))
        return f"{complete} workload stacks deployed to {env} in {result.elapsed:.1f}s"

    def export(self) -> str:
        from charter.evidence.export import export, verify_package

        store, signer = self._store()
        today = datetime.now(UTC).date()
        path = self.result.out / f"{self.cfg.organization.name}-auditor-package.zip"
        export(store, today, today, path, signer=signer, organization=self.cfg.organization.name)
        report = verify_package(path)
        if not report.ok:
            raise DemoFailed("export", "the exported package does not verify")
        self.result.paths["auditor package"] = path
        return f"{path.name}: verified offline"

    def runbooks(self) -> str:
        from charter.commands.runbooks import _controls_by_runbook
        from charter.docs.build import build_docs
        from charter.runbooks.context import build_context
        from charter.runbooks.render import render_all

        context = build_context(self.cfg, self.stacks, config_path=str(self.config_path),
                                controls_by_runbook=_controls_by_runbook())
        rb = self.result.out / "runbooks"
        written = render_all(context, rb)
        docs = self.result.out / "docs"
        build_docs(self.cfg, docs, config_path=str(self.config_path))
        self.result.paths["runbooks"] = rb / "index.html"
        self.result.paths["docs"] = docs / "index.md"
        return f"{len(written)} runbook files, architecture diagram and guides"


class DemoFailed(Exception):
    """A demo step found a real problem (not bad input): reported with exit code 1."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.detail = detail
