"""Concurrent vs sequential evidence collection across an organization, with AWS latency.

The embedded AWS (`charter.local.LocalAws`, moto's server) holds an organization shaped
like `examples/large` (62 member accounts, 3 governed regions), each account seeded with a
little data (an IAM user with a key, a KMS key and a log group per region, an S3 bucket,
a DynamoDB table). Every AWS request pays an injected latency (a botocore `before-send`
hook installed through `SessionFactory.on_client`, 50 ms by default), as a real API call
does. The same `collect_all` run then collects every collector's evidence twice:
concurrently (`--workers`, default 32, threads shared by `--processes` worker processes,
default one per CPU) and sequentially (`max_workers=1`, in this process), each with a
fresh session factory, and checks that both produced the same artifacts.

The server runs in a child process by default so its CPU (it is Python too) is not
charged to the collector's GIL; `--in-process` runs it in this process instead.

moto lacks four read APIs the collectors use (Config DescribeComplianceByConfigRule,
Backup ListBackupJobs, Access Analyzer ListAnalyzers, EC2 GetEbsDefaultKmsKeyId); a
`before-call` hook answers those with an empty response after the same latency, so every
collector runs as it would against AWS.

Usage: python benchmarks/evidence_fanout.py [--quick] [--accounts N] [--latency 0.05] [--workers 32]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from botocore.awsrequest import AWSResponse  # noqa: E402

from charter.aws import SessionFactory  # noqa: E402
from charter.landing_zone.config import load_config  # noqa: E402
from charter.local import embedded_sessions  # noqa: E402

MOTO_MISSING = {
    "DescribeComplianceByConfigRule": {"ComplianceByConfigRules": []},
    "ListBackupJobs": {"BackupJobs": []},
    "ListAnalyzers": {"analyzers": []},
    "GetEbsDefaultKmsKeyId": {"KmsKeyId": "alias/aws/ebs"},
}


def _lighten_moto() -> None:
    """Two of moto's per-request costs that no AWS has, memoised in the server process: its
    dispatcher lists moto's package directory (os.listdir + isdir of ~150 entries) to match
    the request's host, and `BaseResponse.call_action` lists the response class's methods
    (inspect.getmembers) to find the action. Both answers are fixed for a process's life."""
    import functools

    from moto import backends
    from moto.core import responses, utils

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        lambda clazz: frozenset(utils.method_names_from_class(clazz)))


def _serve(queue, served, light: bool) -> None:  # child process: the embedded AWS until killed
    from charter import local

    if light:
        _lighten_moto()

    app = local._guarded_app

    def counting_app():  # counts the requests the embedded AWS answers, for the report
        inner = app()

        def counted(environ, start_response):
            with served.get_lock():
                served.value += 1
            return inner(environ, start_response)
        return counted

    local._guarded_app = counting_app
    with local.LocalAws() as aws:
        queue.put(aws.endpoint_url)
        threading.Event().wait()


class Latency:
    """`on_client` hook: every request sleeps `seconds` before it is sent. Picklable (plain
    data), so the fan-out's worker processes install the same hook on their clients."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def _sleep(self, **_) -> None:
        time.sleep(self.seconds)

    def _missing(self, model, **_):
        self._sleep()
        return AWSResponse("http://embedded", 200, {}, None), json.loads(json.dumps(MOTO_MISSING[model.name]))

    def __call__(self, client) -> None:
        client.meta.events.register("before-send", self._sleep)
        service_id = client.meta.service_model.service_id.hyphenize()
        for op in MOTO_MISSING:
            if op in client.meta.service_model.operation_names:
                client.meta.events.register(f"before-call.{service_id}.{op}", self._missing)


def seed(sessions: SessionFactory, cfg, accounts: int) -> list[tuple[str, str]]:
    orgs = sessions.client("organizations")
    orgs.create_organization(FeatureSet="ALL")
    out = []
    for acct in cfg.accounts[:accounts]:
        aid = orgs.create_account(Email=str(acct.email), AccountName=acct.name)["CreateAccountStatus"]["AccountId"]
        out.append((aid, acct.name))
        role = {"account_id": aid, "role_name": "CharterEvidenceReader"}
        iam = sessions.client("iam", **role)
        iam.create_user(UserName="ci")
        iam.create_access_key(UserName="ci")
        s3 = sessions.client("s3", **role)
        s3.create_bucket(Bucket=f"{cfg.organization.name}-{acct.name}-data-{aid}")
        sessions.client("dynamodb", **role).create_table(
            TableName="orders", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        for i, region in enumerate(cfg.organization.governed_regions):
            kms = sessions.client("kms", region=region, **role)
            key = kms.create_key(Description=f"{acct.name} key")["KeyMetadata"]["KeyId"]
            if i % 2 == 0:
                kms.enable_key_rotation(KeyId=key)
            logs = sessions.client("logs", region=region, **role)
            logs.create_log_group(logGroupName=f"/{acct.name}/app")
            logs.put_retention_policy(logGroupName=f"/{acct.name}/app", retentionInDays=365)
            # moto builds an account-region's EC2 world (default VPC, subnets, groups) on
            # first use, ~1 s of server CPU that real AWS does not have: do it while seeding.
            sessions.client("ec2", region=region, **role).describe_vpcs(MaxResults=5)
    for region in cfg.organization.governed_regions:  # and for the management account
        sessions.client("ec2", region=region).describe_vpcs(MaxResults=5)
    return out


def child_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of the embedded AWS's process, from /proc (Linux)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def fingerprint(artifacts) -> list:
    return sorted((a.collector, a.account_id, a.region, a.kind, tuple((p.id, p.control, p.result)
                                                                         for p in a.population))
                  for a in artifacts)


def cpu_here_and_reaped() -> float:
    """CPU seconds of this process plus its reaped children (the fan-out's worker processes,
    reaped when its pool shuts down; the embedded AWS is reaped only at the end)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", type=Path, default=REPO / "examples" / "large" / "org.yaml")
    parser.add_argument("--accounts", type=int, default=None, help="member accounts (default: all in the config)")
    parser.add_argument("--quick", action="store_true", help="8 accounts: a smoke run")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every AWS request")
    parser.add_argument("--workers", type=int, default=32, help="concurrent AWS reads in the concurrent run")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="worker processes of the concurrent run (default: one per CPU)")
    parser.add_argument("--in-process", action="store_true", help="run the embedded AWS in this process")
    parser.add_argument("--stock-moto", action="store_true",
                        help="leave moto's per-request directory listing and method lookup as they are")
    args = parser.parse_args()

    from charter.evidence.fanout import collect_all

    cfg = load_config(args.config)
    accounts = 8 if args.quick else (args.accounts or len(cfg.accounts))
    regions = cfg.organization.governed_regions
    ctx = multiprocessing.get_context("spawn")
    served = ctx.Value("q", 0)
    if args.in_process:
        from charter.local import LocalAws

        server = LocalAws().start()
        endpoint, stop, server_pid = server.endpoint_url, server.stop, None
    else:
        queue = ctx.Queue()
        proc = ctx.Process(target=_serve, args=(queue, served, not args.stock_moto), daemon=True)
        proc.start()
        endpoint, stop, server_pid = queue.get(timeout=60), proc.terminate, proc.pid
    try:
        t0 = time.perf_counter()
        members = seed(embedded_sessions(endpoint), cfg, accounts)
        print(f"seeded {len(members)} member accounts x {len(regions)} regions in {time.perf_counter() - t0:.1f} s "
              f"(embedded AWS {'in this process' if args.in_process else 'in a child process'})")
        cfg_run = cfg.model_copy(update={"organization": cfg.organization.model_copy(
            update={"management_account_id": None})})

        def run(workers: int, processes: int):
            sessions = embedded_sessions(endpoint)
            sessions.on_client.append(Latency(args.latency))
            start, cpu, server_cpu, requests = (time.perf_counter(), cpu_here_and_reaped(), child_cpu(server_pid),
                                                served.value)
            arts = list(collect_all(sessions, cfg_run, max_workers=workers, processes=processes))
            elapsed = time.perf_counter() - start
            cpu = (cpu_here_and_reaped() - cpu, child_cpu(server_pid) - server_cpu)
            # requests the embedded AWS served, plus those the Latency hook answered for it (MOTO_MISSING)
            faked = sum(c.operation in MOTO_MISSING for a in arts for c in a.calls)
            return elapsed, arts, served.value - requests + faked, cpu

        # Concurrent first: it also pays for the credential reports' first generation.
        t_conc, conc, req_conc, cpu_conc = run(args.workers, args.processes)
        t_seq, seq, req_seq, cpu_seq = run(1, 1)
    finally:
        stop()

    units = len(conc)
    kinds = Counter(a.kind for a in conc)
    calls = sum(len(a.calls) for a in conc)
    account_regions = (len(members) + 1) * len(regions)
    same = fingerprint(conc) == fingerprint(seq)
    print(f"artifacts: {units} ({dict(kinds)}); gaps: "
          f"{sorted({(a.collector, (a.error or '')[:60]) for a in conc if a.kind == 'gap'})[:5]}")
    print(f"recorded API calls: {calls} = {calls / account_regions:.1f} per account-region "
          f"({len(members) + 1} accounts x {len(regions)} regions); HTTP requests incl. STS: "
          f"{req_conc} concurrent, {req_seq} sequential")
    print(f"concurrent ({args.workers} workers in {args.processes} process{'es' if args.processes > 1 else ''}): "
          f"{t_conc:7.1f} s  (CPU: collector {cpu_conc[0]:.1f} s, embedded AWS {cpu_conc[1]:.1f} s)")
    print(f"sequential (1 worker):     {t_seq:7.1f} s  (CPU: collector {cpu_seq[0]:.1f} s, "
          f"embedded AWS {cpu_seq[1]:.1f} s)")
    from terms import terms

    print(terms(f"concurrent: {args.workers} workers in {args.processes} process(es); sequential: 1 worker; the "
                f"embedded AWS {'in this process' if args.in_process else 'in a child process'} for both", "one of each",
                "concurrent first (it also pays for the credential reports' first generation)",
                "both runs collect the same artifacts (collector, account, region, kind, population)"))
    print("(other processes slow the CPU-bound concurrent run, not the latency-bound sequential one)")
    if not same:
        print("DISAGREEMENT: the concurrent and sequential runs collected different artifacts; no speed-up printed")
        raise SystemExit(1)
    print(f"speed-up: {t_seq / t_conc:.1f}x  (latency {args.latency * 1000:.0f} ms per request; "
          f"same artifacts: {'yes' if same else 'NO'})")


if __name__ == "__main__":
    main()
