"""The fan-out split over worker processes, against the embedded AWS (an HTTP server, so the
spawned workers reach the same accounts): the same evidence as one process, accounts dealt
in balanced groups, and a worker that dies leaves gap artifacts, never missing units."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from collectors_testkit import provision_evidence_roles, small_config

from charter.evidence.fanout import AccountRef, FanOut, auto_processes, collect_all
from charter.landing_zone.scp.expected import evidence_sources
from charter.local import LocalAws

COLLECTORS = ["iam", "kms", "logs", "s3", "organizations"]


class DieInWorker:
    """`on_client` hook (picklable: the workers rebuild the sessions with it) that kills a
    worker process the moment it makes a KMS client, as the OOM killer would."""

    def __call__(self, client) -> None:
        if multiprocessing.parent_process() is not None and client.meta.service_model.service_name == "kms":
            os._exit(9)


@pytest.fixture(scope="module")
def org():
    cfg = small_config()
    cfg = cfg.model_copy(update={"organization": cfg.organization.model_copy(update={"management_account_id": None})})
    with LocalAws() as aws:
        sessions = aws.sessions()
        orgs = sessions.client("organizations")
        orgs.create_organization(FeatureSet="ALL")
        ids = [orgs.create_account(Email=str(acct.email), AccountName=acct.name)["CreateAccountStatus"]["AccountId"]
               for acct in cfg.accounts]
        # the embedded AWS enforces trust: the reader and the operator it trusts, as deploy makes them
        operator = provision_evidence_roles(sessions, cfg, ids)
        for acct, aid in zip(cfg.accounts, ids, strict=True):
            sessions.client("kms", account_id=aid, role_name="OrganizationAccountAccessRole").create_key(
                Description=acct.name)
        aws.operator = operator
        yield aws, cfg


def operator(aws):
    """A fresh factory acting as the evidence operator (its own `on_client` list)."""
    return aws.sessions().as_role(*aws.operator.via)


def _fingerprint(artifacts):
    return sorted((a.collector, a.account_id, a.region, a.kind,
                   tuple((p.id, p.control, p.result) for p in a.population)) for a in artifacts)


@pytest.mark.e2e
@pytest.mark.slow
def test_two_processes_yield_the_same_evidence_as_one(org):
    aws, cfg = org
    one = list(collect_all(aws.operator, cfg, collectors=COLLECTORS, sources=evidence_sources(cfg), max_workers=4,
                           processes=1))
    seen = []
    two = list(collect_all(aws.operator, cfg, collectors=COLLECTORS, sources=evidence_sources(cfg), max_workers=4,
                           processes=2,
                           progress=lambda done, total, art: seen.append((done, total))))
    assert not [a.error for a in one if a.kind == "gap"]
    assert not [a.error for a in two if a.kind == "gap"]
    assert _fingerprint(two) == _fingerprint(one)
    # progress is reported in the calling process, once per artifact, against the full plan
    assert seen[-1] == (len(two), len(two))
    # every unit's caller is the workers' own role session in the account it read
    assert all(a.account_id in a.caller_arn or a.collector == "organizations" for a in two if a.kind == "evidence")


@pytest.mark.e2e
def test_accounts_are_dealt_in_balanced_deterministic_groups(org):
    aws, cfg = org
    refs = [AccountRef(str(100000000000 + i), f"a{i}") for i in range(7)]
    fan = FanOut(aws.sessions(), cfg, refs, collectors=COLLECTORS, management_account_id=refs[0].id)
    groups = fan.groups(refs, 3)
    assert sorted(a.id for g in groups for a in g) == sorted(a.id for a in refs)
    weights = [sum(len(fan.units_for(a)) for a in g) for g in groups]
    # the management account carries the organization-wide units, so it sits with fewer others
    assert max(weights) - min(weights) <= max(len(fan.units_for(a)) for a in refs)
    assert groups == fan.groups(list(reversed(refs)), 3)
    assert len(fan.groups(refs[:2], 8)) == 2  # never more groups than accounts


@pytest.mark.e2e
def test_a_dead_worker_becomes_gaps_for_exactly_what_it_did_not_return(org):
    aws, cfg = org
    sessions = operator(aws)
    sessions.on_client.append(DieInWorker())
    artifacts = list(collect_all(sessions, cfg, collectors=COLLECTORS, sources=evidence_sources(cfg), max_workers=4, processes=2))
    planned = {(a.collector, a.account_id, a.region) for a in
               list(collect_all(aws.operator, cfg, collectors=COLLECTORS, sources=evidence_sources(cfg), max_workers=4,
                                processes=1))}
    got = [(a.collector, a.account_id, a.region) for a in artifacts]
    assert len(got) == len(set(got)) and set(got) == planned  # nothing missing, nothing twice
    gaps = [a for a in artifacts if a.kind == "gap"]
    other = sorted({a.error for a in gaps if "worker process" not in a.error or "--processes 1" not in a.error})
    assert gaps and not other, "\n".join(other[:3])
    assert any(a.collector == "kms" for a in gaps)


@pytest.mark.e2e
def test_a_hook_the_workers_cannot_rebuild_falls_back_to_this_process(org):
    aws, cfg = org
    sessions = operator(aws)
    calls = []
    sessions.on_client.append(lambda client: calls.append(client.meta.service_model.service_name))  # a closure
    artifacts = list(collect_all(sessions, cfg, collectors=COLLECTORS, sources=evidence_sources(cfg), max_workers=4, processes=2))
    assert not [a for a in artifacts if a.kind == "gap"]
    assert "kms" in calls  # the hook ran here, on the clients that read the accounts


def test_automatic_process_count_follows_accounts_and_cpus():
    cpus = len(os.sched_getaffinity(0))
    assert auto_processes(3) == 1
    assert auto_processes(0) == 1
    assert auto_processes(16 * 64) == cpus
    assert auto_processes(32) == min(2, cpus)
