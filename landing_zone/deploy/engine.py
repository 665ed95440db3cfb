"""The deploy, in order: organization, OUs, accounts, moves, SCPs, trusted access and
delegated administrators, then the plan's stacks wave by wave (StackSets of one wave in
parallel), each followed by its API steps. `dry_run=True` is `charter plan` against AWS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
from botocore.config import Config

from charter.aws import (
    AwsError,
    EndpointUnreachableError,
    SessionFactory,
    error_code,
    error_message,
    explain,
)
from charter.config.model import OrgConfig
from charter.errors import SynthError
from charter.landing_zone.synth import Plan, PlannedStack

from . import assignments, orgs, scps
from .api_steps import run_steps, split_phases
from .assets import ensure_assets
from .errors import CredentialsError, EndpointError, PlanMissingError
from .journal import SSM_MAX, Journal, ssm_parameter_name
from .run import Change, Run, describe_error
from .stacks import deploy_stack
from .stacksets import StackSetDeployer
from .templates import load

#: Planned stacks with this kind are applied through the Organizations API.
ORGANIZATIONS_KIND = "organizations"


@dataclass
class DeployResult:
    changes: list[Change]
    failures: list[str]
    journal: Journal
    elapsed: float
    journal_path: Path | None = None
    caller: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def read_plan(out_dir: Path) -> Plan:
    try:
        return Plan.read(out_dir)
    except SynthError as exc:
        raise PlanMissingError(f"deploy: {exc.message}", hint=exc.hint) from None


def is_organizations(ps: PlannedStack) -> bool:
    # The organization builder's stack is applied through the API even if plan.json predates the kind.
    return ps.deployment.kind == ORGANIZATIONS_KIND or ps.builder == "organization"


def preflight(sessions: SessionFactory, verb: str = "deploy") -> str:
    """Who are we? Fails fast (one attempt, short timeouts) with where and how to fix; an AWS
    error (expired SSO token, refused credentials) is explained as everywhere else (`explain`)."""
    where = sessions.describe()
    try:
        sts = sessions.client("sts", config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                                   connect_timeout=3, read_timeout=10))
        return sts.get_caller_identity()["Arn"]
    except (EndpointUnreachableError, botocore.exceptions.EndpointConnectionError):
        raise EndpointError(f"{verb}: cannot reach {where}",
                            hint="start the embedded AWS with `charter local` and pass its --endpoint-url, "
                                 "use --local, or check the network") from None
    except AwsError as exc:
        raise CredentialsError(f"{verb}: {exc.message}", hint=exc.hint) from None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        explained = explain(exc)
        cls = EndpointError if isinstance(exc, botocore.exceptions.ConnectTimeoutError
                                          | botocore.exceptions.ReadTimeoutError) else CredentialsError
        raise cls(f"{verb}: {where}: {explained.message}", hint=explained.hint) from None


def deploy(cfg: OrgConfig, out_dir: Path, sessions: SessionFactory, *, dry_run: bool = False,
           poll_interval: float | None = None, progress: Any = None, max_workers: int = 4) -> DeployResult:
    started = time.monotonic()
    out_dir = Path(out_dir)
    plan = read_plan(out_dir)
    caller = preflight(sessions, "plan" if dry_run else "deploy")
    local_journal = Journal.load(out_dir)
    journal = local_journal or Journal(organization=cfg.organization.name)
    run = Run(cfg=cfg, sessions=sessions, plan=plan, out_dir=out_dir, journal=journal, dry_run=dry_run,
              poll_interval=poll_interval if poll_interval is not None else sessions.capabilities.poll_interval,
              progress=progress)
    if local_journal is None:
        _adopt_mirror(run)

    with _phase(run, "organization"):
        # org.yaml's management account id names a real AWS account; an emulator's ids are its own
        state = orgs.read_state(run)
        state = orgs.ensure_organization(run, state, check_management=sessions.capabilities.config_account_ids)
    with _phase(run, "organizational units"):
        orgs.ensure_ous(run, state)
    with _phase(run, "accounts"):
        orgs.ensure_accounts(run, state)
        orgs.move_accounts(run, state)
    with _phase(run, "service control policies"):
        orgs.ensure_scp_type(run, state)
        scps.reconcile(run)
    with _phase(run, "trusted access and StackSets access"):
        orgs.ensure_service_access(run)
        orgs.ensure_stacksets_access(run)
    run.save_journal()

    waves: dict[int, list[PlannedStack]] = {}
    for ps in plan.stacks:
        if not is_organizations(ps):
            waves.setdefault(ps.deployment.order, []).append(ps)
        elif ps.facts.get("api_steps"):
            run_steps(run, ps.stack_name, list(ps.facts["api_steps"]))  # type: ignore[arg-type]
    for order in sorted(waves):
        _deploy_wave(run, waves[order], max_workers)
        run.save_journal()

    _write_mirror(run)
    path = None if dry_run else Journal.path(out_dir)
    return DeployResult(changes=run.changes, failures=run.failures, journal=run.journal,
                        elapsed=time.monotonic() - started, journal_path=path, caller=caller, notes=run.notes)


@contextmanager
def _phase(run: Run, label: str) -> Iterator[None]:
    """One progress row per Organizations phase, so the first seconds of a deploy say what runs."""
    task = run.progress.start(("planning " if run.dry_run else "") + label, 1, phase=True) if run.progress else None
    status = "FAILED"
    try:
        yield
        status = "DONE"
    finally:
        if task is not None:
            run.progress.finish(task, status)


def wave_dependencies(stacks: list[PlannedStack]) -> dict[str, set[str]]:
    """Planned stack name -> the stacks of the same wave it must wait for (`depends_on`
    naming an earlier wave is already satisfied by the wave order)."""
    names = {ps.name for ps in stacks}
    return {ps.name: {d for d in ps.deployment.depends_on if d in names and d != ps.name} for ps in stacks}


def _deploy_wave(run: Run, stacks: list[PlannedStack], max_workers: int) -> None:
    """The stacks of one wave in parallel, each started once the stacks it depends on in
    this wave have finished (a topological order; `_deploy_one` then skips it if one of
    them failed). Stacks caught in a dependency cycle cannot be ordered and are reported."""
    deps = wave_dependencies(stacks)
    pending = {ps.name: ps for ps in stacks}
    done: set[str] = set()
    running: dict[Future[None], str] = {}
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        while pending or running:
            for name in [n for n in pending if deps[n] <= done]:
                running[pool.submit(_deploy_one, run, pending.pop(name))] = name
            if not running:  # nothing can start and nothing is running: a cycle
                for name, ps in pending.items():
                    run.fail(f"{ps.stack_name}: not deployed, its depends_on forms a cycle within wave "
                             f"{ps.deployment.order} ({', '.join(sorted(deps[name] - done))})")
                    run.failed_stacks.add(name)
                return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                done.add(running.pop(future))
                future.result()  # _deploy_one reports its own failures; this re-raises only bugs


def _deploy_one(run: Run, ps: PlannedStack) -> None:
    blocked = [d for d in ps.deployment.depends_on if d in run.failed_stacks]
    if blocked:
        run.fail(f"{ps.stack_name}: skipped, depends on {', '.join(blocked)} which failed")
        run.failed_stacks.add(ps.name)
        return
    waiting = _blocked_accounts(run, ps)
    try:
        tpl = load(run, ps)
        steps = list(ps.facts.get("api_steps") or [])  # type: ignore[call-overload]
        # "before" steps (the default: delegations the stack's resources rely on) run first;
        # a failed one is reported and the stack still deploys. "after" steps act on what
        # the stack made (e.g. the delegated admin adopting members) and run only once the
        # stack is in place everywhere; if it failed they wait for the deploy that fixes it.
        before, after = split_phases(steps)
        if before:
            run_steps(run, ps.stack_name, before)
        grants = ps.facts.get(assignments.FACT) is not None  # the identity stack: its assignments around it
        if grants:  # first what org.yaml stops granting, so a permission set it drops has none left
            assignments.revoke(run, ps)
        ensure_assets(run, tpl)
        if ps.deployment.kind == "stackset":
            deployer = StackSetDeployer(run, tpl, waiting)
            ok = deployer.deploy()
            failed = {key.split("/", 1)[0]: why for key, why in deployer.failed.items()}
            if failed:
                with run._lock:
                    run.failed_accounts[ps.name] = failed
            elif not ok:  # nothing was tried (a parameter without a value): it failed as a whole
                run.failed_stacks.add(ps.name)
        else:
            account = run.ctx.account_id(ps.deployment.account or "management")
            if account in waiting:
                run.fail(f"{ps.stack_name}/{ps.deployment.account}: skipped, {waiting[account]}")
                run.failed_stacks.add(ps.name)
                return
            ok = deploy_stack(run, tpl)
            if not ok:
                run.failed_stacks.add(ps.name)
        if ok and grants:
            ok = assignments.grant(run, ps)
            if not ok:
                run.failed_stacks.add(ps.name)
        if ok and after:
            run_steps(run, ps.stack_name, after)
    except botocore.exceptions.ClientError as exc:
        run.fail(f"{ps.stack_name}: {error_code(exc)}: {error_message(exc)}")
        run.failed_stacks.add(ps.name)
    except AwsError as exc:
        run.fail(f"{ps.stack_name}: {exc.message}")
        run.failed_stacks.add(ps.name)
    except Exception as exc:  # noqa: BLE001 - one stack's surprise must not stop the others
        run.fail(f"{ps.stack_name}: {describe_error(exc)}")
        run.failed_stacks.add(ps.name)


def _blocked_accounts(run: Run, ps: PlannedStack) -> dict[str, str]:
    """Account id -> why, for the accounts where a StackSet `ps` depends on failed: `ps` waits
    there (its resources would import what is missing) and deploys everywhere else."""
    stack_names = {p.name: p.stack_name for p in run.plan.stacks}
    out: dict[str, str] = {}
    for dep in ps.deployment.depends_on:
        for account in run.failed_accounts.get(dep, {}):
            out.setdefault(account, f"depends on {stack_names.get(dep, dep)}, which failed in this account")
    return out


def _adopt_mirror(run: Run) -> None:
    """No local journal (a fresh checkout, another CI runner): resume from the copy in the
    management account."""
    try:
        packed = _read_mirror(run.client("ssm"), ssm_parameter_name(run.cfg.organization.name))
        if packed:
            run.journal = Journal.unpack(packed)
    except (botocore.exceptions.ClientError, ValueError):
        return


def _read_mirror(ssm: Any, name: str) -> str | None:
    """The packed journal: one parameter, or `parts:N` and N parameters `<name>-<i>`
    when it outgrows one (8 KB each)."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            return None
        raise
    if not value.startswith("parts:"):
        return value
    return "".join(ssm.get_parameter(Name=f"{name}-{i}")["Parameter"]["Value"] for i in range(int(value[6:])))


def _write_mirror(run: Run) -> None:
    if run.dry_run:
        return
    ssm = run.client("ssm")
    name = ssm_parameter_name(run.cfg.organization.name)
    packed = run.journal.packed()
    try:
        if _read_mirror(ssm, name) == packed:
            return  # unchanged: no write, so a no-change deploy makes no mutating call
        parts = [packed[i:i + SSM_MAX] for i in range(0, len(packed), SSM_MAX)]
        writes = [(name, packed)] if len(parts) == 1 else [(f"{name}-{i}", p) for i, p in enumerate(parts)] + [
            (name, f"parts:{len(parts)}")]  # the index last, so a reader never sees a partial set
        for key, value in writes:
            ssm.put_parameter(Name=key, Value=value, Type="String", Overwrite=True,
                              Tier="Intelligent-Tiering",  # never a forbidden Advanced->Standard downgrade
                              Description="Charter deploy journal (zlib+base64 JSON)")
    except botocore.exceptions.ClientError as exc:
        # The local journal is complete; a mirror that could not be written is a warning line.
        run.fail(f"journal/{name}: not mirrored ({error_code(exc)}: {error_message(exc)}); kept locally")
