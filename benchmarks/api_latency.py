"""API latency of the local optimizer API under 50 concurrent clients, against a named peer.

The server runs in its own process, built as `charter workload serve --local` builds it:
the embedded AWS (`charter.local.LocalAws`, moto) and `workloads.server.LocalApiServer`
in one process, the API's handlers in its handler processes (`workloads.handler_pool`),
and the job flow (the embedded AWS's pipeline runner, its Processing steps and Lambda
functions as niced processes) beside them. A small market-data set is ingested first
(through the ingest handler), so the jobs the benchmark submits are real jobs that the
job flow runs while it measures.

The load is a closed loop of N client threads in this (separate) process, each with its
own keep-alive HTTP/1.1 connection (`http.client`): POST /optimize with a request body
drawn from a pool of realistic ones (4-8 of the ingested tickers, one of five objectives,
constraints, a walk-forward backtest on half of them), then GET /jobs/{id} of the job it
just submitted, and again. No think time: every client sends its next request as soon as
the previous answer is in, so 50 clients keep 50 requests outstanding, the hardest load
a closed loop of 50 can offer (a latency figure under saturation, not a light one).
`--think-ms` adds exponential think time between requests to see lighter loads.

Peer, measured in the same run on the same server process, handlers, data and embedded
AWS: werkzeug's threaded WSGI server (the server of `flask run` and of moto itself) in
front of the same route table and handler invocation (`workloads.server.route` and
`invoke`), i.e. the conventional thread-per-connection design, its handlers on its
threads in the embedded AWS's process. The ratio is ours / peer
p99 per operation; the spec's production target (p99 < 500 ms at API Gateway) is printed
as the reference. Verdicts: the local bar, p99 < 200 ms for submit and status, and the
issue's, ours / peer p99 <= 0.5 at the last client count.

Equal terms: both servers live in the same process, on the same CPUs (the same core
budget: everything runs on the CPUs this process may use), behind the same handlers,
data and embedded AWS, and take the same load from the same client process. Ours runs
its handlers in processes of their own, the peer on its threads: how each uses the
cores is the design being compared.
Each client count runs `--repeat` rounds, the order alternating (ours, peer, then peer,
ours, ...), so neither side always meets the jobs the other left behind; each side's
percentiles pool its rounds. Before any ratio is printed the two sides must agree: every
request of both answered (202 then 200 naming the job) and a sample of jobs submitted
through each reads the same (id, creation time, objective) through the other.

Warm-up: before the measured rounds each side takes `--warmup` unmeasured pairs per
client, and the rounds start once the first of those jobs has run through the whole job
flow: the server warms its handlers itself, but the job flow starts cold (its first
clients, the Lambda runtime's first start, the functions' first unpacking), and the
side that met that first paid for it.

    python benchmarks/api_latency.py [--clients 1 50] [--requests 20] [--repeat 2] [--warmup 2] [--think-ms 0]
                                      [--handler-processes N] [--no-peer]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "workloads")]

PRODUCTION_P99_MS = 500.0  # the spec's API target at API Gateway (reference)
LOCAL_P99_MS = 200.0  # the bar for the local server
N_ASSETS, N_DAYS = 10, 400
OBJECTIVES = ("min_variance", "risk_parity", "max_diversification", "mean_variance", "max_sharpe")
RISK_MODELS = ("ledoit_wolf", "oas", "sample", "ewma")


def request_bodies(n: int, seed: int = 7) -> list[bytes]:
    """`n` distinct, valid POST /optimize bodies of the kind a user sends."""
    rng = random.Random(seed)
    tickers = [f"A{i:03d}" for i in range(N_ASSETS)]
    out = []
    for _ in range(n):
        k = rng.randint(4, 8)
        body: dict[str, Any] = {
            "assets": rng.sample(tickers, k), "objective": rng.choice(OBJECTIVES),
            "risk_model": rng.choice(RISK_MODELS), "horizon_days": rng.choice((120, 180, 252)),
            "constraints": {"long_only": True, "max_weight": rng.choice((0.35, 0.4, 0.5))},
            "seed": rng.randint(0, 1000),
        }
        if body["objective"] == "mean_variance":
            body["risk_aversion"] = rng.choice((0.5, 1.0, 3.0))
        if rng.random() < 0.5:
            body["backtest"] = {"enabled": True, "lookback": rng.choice((60, 90, 126)), "rebalance_every": 21,
                                "cost_bps": 5}
        else:
            body["backtest"] = {"enabled": False}
        out.append(json.dumps(body).encode())
    return out


# -- the server process ----------------------------------------------------------------------

def _peer_app(server: Any) -> Any:
    """The same routes and handler invocation as LocalApiServer, as a WSGI app. Its
    requests count as in flight for the job workers, as LocalApiServer's do."""
    from charter.workloads.server import invoke, route

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        found = route(method, path)
        if isinstance(found, list):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "not_found"}']
        resource, name, params = found
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        with server.in_flight():
            status, payload, out = invoke(method, resource, path, headers, environ.get("QUERY_STRING", ""), params,
                                          body, environ.get("REMOTE_ADDR", "127.0.0.1"), name)
        start_response(f"{status} {http.client.responses.get(status, '')}",
                       [*(out or {}).items(), ("Content-Length", str(len(payload)))])
        return [payload]

    return app


def serve(conn: Any, with_peer: bool, handler_processes: int | None = None) -> None:
    """Child process: embedded AWS + local API server (+ the peer), until told to stop."""
    import logging

    from handlers_testkit import SETTINGS, ingest_prices, settings_env
    from werkzeug.serving import make_server

    from charter.local import LocalAws
    from charter.workloads.handlers import aws
    from charter.workloads.server import LocalApiServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(settings_env())
    with LocalAws() as moto:
        os.environ.update(moto.env())
        aws.reset()
        with LocalApiServer(SETTINGS, aws_app=moto.wsgi_app(), handler_processes=handler_processes) as server:
            report = ingest_prices(n_assets=N_ASSETS, n_days=N_DAYS)
            assert report["validated"] == 1, report
            peer = make_server("127.0.0.1", 0, _peer_app(server), threaded=True) if with_peer else None
            if peer is not None:
                peer.daemon_threads = True
                threading.Thread(target=peer.serve_forever, daemon=True).start()
            conn.send((server.url, f"http://127.0.0.1:{peer.server_port}" if peer else None, os.getpid(),
                       server.handler_process_count))
            conn.recv()  # until the benchmark is done
            if peer is not None:
                peer.shutdown()
    conn.send("stopped")


# -- the clients ---------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def _cpu_seconds(pid: int) -> float | None:
    """User+system CPU of a process (Linux /proc), to report the server's cost per request."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run(url: str, bodies: list[bytes], n_clients: int, n_requests: int, think_ms: float,
        server_pid: int | None = None) -> dict[str, Any]:
    """A closed loop of `n_clients`, each doing `n_requests` submit + status pairs."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    timings: dict[str, list[float]] = {"submit": [], "status": []}
    errors: list[str] = []
    jobs: list[tuple[str, str]] = []  # (job id, its owner): each client's first job
    lock = threading.Lock()
    start = threading.Barrier(n_clients + 1)

    def think(rng: random.Random) -> None:
        if think_ms > 0:
            time.sleep(rng.expovariate(1000.0 / think_ms))

    def client(n: int) -> None:
        rng = random.Random(n)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-Charter-User": f"bench-user-{n}", "User-Agent": "charter-bench/1.0"}
        mine: dict[str, list[float]] = {"submit": [], "status": []}
        failed: list[str] = []
        submitted: list[tuple[str, str]] = []
        start.wait()
        try:
            for i in range(n_requests):
                body = bodies[(n * n_requests + i) % len(bodies)]
                t0 = time.perf_counter()
                conn.request("POST", "/optimize", body, headers)
                resp = conn.getresponse()
                data = resp.read()
                mine["submit"].append((time.perf_counter() - t0) * 1000)
                if resp.status != 202:
                    failed.append(f"submit {resp.status}: {data[:200]!r}")
                    continue
                job_id = json.loads(data)["job_id"]
                if i == 0:
                    submitted.append((job_id, headers["X-Charter-User"]))
                think(rng)
                t0 = time.perf_counter()
                conn.request("GET", f"/jobs/{job_id}", headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                mine["status"].append((time.perf_counter() - t0) * 1000)
                if resp.status != 200 or json.loads(data)["job_id"] != job_id:
                    failed.append(f"status {resp.status}: {data[:200]!r}")
                think(rng)
        except (OSError, http.client.HTTPException) as exc:
            failed.append(f"client {n}: {type(exc).__name__}: {exc}")
        finally:
            conn.close()
        with lock:
            for op in timings:
                timings[op] += mine[op]
            errors.extend(failed)
            jobs.extend(submitted)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(n_clients)]
    for t in threads:
        t.start()
    cpu0 = _cpu_seconds(server_pid) if server_pid else None
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    cpu1 = _cpu_seconds(server_pid) if server_pid else None
    total = sum(len(v) for v in timings.values())
    return {"timings": timings, "errors": errors, "wall": wall, "total": total, "jobs": jobs,
            "cpu_ms": (cpu1 - cpu0) * 1000 / max(total, 1) if cpu0 is not None and cpu1 is not None else None}


def get_job(url: str, job_id: str, user: str) -> tuple[int, dict[str, Any]]:
    """GET /jobs/{id} as `user` on a fresh connection: (HTTP status, JSON body)."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("GET", f"/jobs/{job_id}", headers={"X-Charter-User": user})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def wait_for_job(url: str, job_id: str, user: str, deadline_seconds: float = 600.0) -> float:
    """Seconds until job `job_id` ended (a hang guard, not a timing bar)."""
    began = time.monotonic()
    while time.monotonic() - began < deadline_seconds:
        if get_job(url, job_id, user)[1].get("status") in ("SUCCEEDED", "FAILED"):
            return time.monotonic() - began
        time.sleep(0.5)
    raise SystemExit(f"warm-up job {job_id} did not finish within {deadline_seconds:.0f} s")


def pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's rounds as one result: timings, errors and jobs joined; wall and CPU summed/averaged."""
    cpus = [r["cpu_ms"] for r in results if r["cpu_ms"] is not None]
    return {"timings": {op: [v for r in results for v in r["timings"][op]] for op in results[0]["timings"]},
            "errors": [e for r in results for e in r["errors"]], "jobs": [j for r in results for j in r["jobs"]],
            "wall": sum(r["wall"] for r in results), "total": sum(r["total"] for r in results),
            "cpu_ms": sum(cpus) / len(cpus) if cpus else None}


def disagreement(url: str, peer_url: str, ours: dict[str, Any], peer: dict[str, Any], sample: int = 10) -> str:
    """Why the two sides do not agree ("" when they do): both answered every request, and a
    job submitted through either reads the same (id, creation time, objective) through both."""
    if ours["errors"] or peer["errors"]:
        return f"errors: ours {len(ours['errors'])}, peer {len(peer['errors'])}"
    for op in ours["timings"]:
        if len(ours["timings"][op]) != len(peer["timings"][op]):
            return f"{op}: ours answered {len(ours['timings'][op])}, peer {len(peer['timings'][op])}"
    for job_id, user in ours["jobs"][:sample] + peer["jobs"][:sample]:
        seen = []
        for base in (url, peer_url):
            code, body = get_job(base, job_id, user)
            seen.append((code, body.get("job_id"), body.get("created_at"), body.get("objective")))
        if seen[0] != seen[1] or seen[0][0] != 200:
            return f"job {job_id}: ours {seen[0]}, peer {seen[1]}"
    return ""


def report(title: str, result: dict[str, Any], peer: dict[str, Any] | None) -> float:
    """Print one run; returns the worst p99 of ours."""
    t, total, wall = result["timings"], result["total"], result["wall"]
    cpu = f", server CPU {result['cpu_ms']:.2f} ms/request" if result["cpu_ms"] is not None else ""
    print(f"\n{title}: {total} requests in {wall:.1f} s ({total / wall:.0f} req/s){cpu}, "
          f"{len(result['errors'])} errors")
    for e in result["errors"][:5]:
        print(f"  error: {e}")
    head = f"{'operation':<10}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    if peer:
        head += f"{'peer p99':>10}{'ours/peer':>11}"
    print(head + f"{'vs 500 ms':>11}")
    worst = 0.0
    for op, values in t.items():
        if not values:
            continue
        p99 = percentile(values, 99)
        worst = max(worst, p99)
        line = (f"{op:<10}{len(values):>6}{statistics.median(values):>9.1f}{percentile(values, 95):>9.1f}"
                f"{p99:>9.1f}{max(values):>9.1f}")
        if peer and peer["timings"][op]:
            peer_p99 = percentile(peer["timings"][op], 99)
            line += f"{peer_p99:>10.1f}{p99 / peer_p99:>10.2f}x"
        print(line + f"{p99 / PRODUCTION_P99_MS:>10.2f}x")
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 50],
                        help="client counts to run in turn; the verdict is on the last")
    parser.add_argument("--requests", type=int, default=20, help="submit+status pairs per client")
    parser.add_argument("--repeat", type=int, default=2,
                        help="rounds per client count and side, the order alternating (default 2: ours, peer, "
                             "peer, ours)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="unmeasured submit+status pairs per client and side before the rounds (default 2)")
    parser.add_argument("--think-ms", type=float, default=0.0,
                        help="mean think time between a client's requests (exponential); 0 = none")
    parser.add_argument("--handler-processes", type=int, default=None,
                        help="ours: handler processes (default: as `charter workload serve --local`, one per core plus one)")
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the peer (werkzeug threaded server, same handlers)")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    ours_end, child_end = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(child_end, args.peer, args.handler_processes), name="charter-api-server")
    proc.start()
    child_end.close()  # so a server that dies reads as EOF here, not as a wait for ever
    verdict = "FAIL"
    try:
        try:
            url, peer_url, pid, handlers = ours_end.recv()
        except EOFError:
            proc.join(30)
            print(f"the server process ended before it was ready (exit {proc.exitcode}); its error is above",
                  file=sys.stderr)
            return 2
        bodies = request_bodies(256)
        print(f"server: LocalApiServer {url} (embedded AWS in its process, pid {pid}); "
              f"peer: {'werkzeug threaded WSGI server ' + peer_url if peer_url else 'not measured'}")
        print(f"core budget: both servers in that one process, the clients in this one, all on CPUs "
              f"{sorted(os.sched_getaffinity(0))} (load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}); "
              f"ours: an asyncio loop and {handlers} handler processes; peer: a thread per connection, handlers on "
              "its threads; the job flow (pipeline runner in the server process, steps and functions as niced "
              "processes) runs for both")
        print(f"load: closed loop, POST /optimize then GET /jobs/{{id}}, {args.requests} pairs per client, "
              f"think time {args.think_ms:.0f} ms, {len(bodies)} distinct request bodies")
        print(f"warm-up: {args.warmup} unmeasured pair(s) per client ({max(args.clients)} clients) on each side, "
              "then until the first of those jobs has run through the whole job flow (its cold start: the "
              "runners' first clients, the Lambda runtime's start, the functions' first unpacking), then the "
              "measured rounds")
        print(f"repetitions: {args.repeat} round(s) per side and client count, order alternating "
              "(ours first in even rounds, peer first in odd ones); percentiles pool a side's rounds; "
              "agreement asserted before any ratio: every request answered by both, and 10 jobs submitted "
              "through each read the same (id, created_at, objective) through the other")
        # Warm-up, the same for both sides and not measured: the server warms its handlers
        # before it reports ready (`LocalApiServer.start`), but the job flow starts cold (the
        # pipeline runners' first clients, the Lambda runtime's first start and artifact
        # unpacking), and whichever side met it first paid for it in its first second.
        warm_jobs: list[tuple[str, str]] = []
        for side_url in (url, peer_url) if args.warmup else ():
            if side_url:
                warm = run(side_url, bodies, max(args.clients), args.warmup, args.think_ms)
                if warm["errors"]:
                    print(f"warm-up errors on {side_url}: {warm['errors'][:3]}", file=sys.stderr)
                    return 1
                warm_jobs += warm["jobs"]
        if warm_jobs:  # the job flow's first run end to end (its first Lambda starts, results written)
            waited = wait_for_job(url, *warm_jobs[0])
            print(f"warm-up: the first warm-up job finished after {waited:.1f} s; the others run on during the rounds")
        worst, errors, ratios = 0.0, 0, {}
        for clients in args.clients:
            rounds: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": []}
            for i in range(args.repeat):
                order = ("ours", "peer") if i % 2 == 0 else ("peer", "ours")
                for side in order:
                    if side == "ours":
                        rounds["ours"].append(run(url, bodies, clients, args.requests, args.think_ms, pid))
                    elif peer_url:
                        rounds["peer"].append(run(peer_url, bodies, clients, args.requests, args.think_ms))
            ours = pooled(rounds["ours"])
            peer = pooled(rounds["peer"]) if rounds["peer"] else None
            if peer is not None:
                why = disagreement(url, peer_url, ours, peer)
                if why:
                    report(f"{clients} concurrent client(s), LocalApiServer", ours, None)
                    report(f"{clients} concurrent client(s), peer (werkzeug threaded)", peer, None)
                    print(f"\nDISAGREEMENT: {why}; no ratio printed")
                    return 1
            worst = report(f"{clients} concurrent client(s), LocalApiServer", ours, peer)
            errors = len(ours["errors"])
            if peer:
                report(f"{clients} concurrent client(s), peer (werkzeug threaded)", peer, None)
                ratios = {op: percentile(ours["timings"][op], 99) / percentile(peer["timings"][op], 99)
                          for op in ours["timings"] if ours["timings"][op] and peer["timings"][op]}
        verdict = "PASS" if worst < LOCAL_P99_MS and not errors else "FAIL"
        print(f"\nlocal bar: p99 < {LOCAL_P99_MS:.0f} ms for submit and status at {args.clients[-1]} clients "
              f"-> {verdict} (worst p99 {worst:.1f} ms); spec production target p99 < {PRODUCTION_P99_MS:.0f} ms")
        if ratios:
            half = all(r <= 0.5 for r in ratios.values())
            print(f"issue #24 bar: ours / peer p99 <= 0.5 at {args.clients[-1]} clients -> "
                  f"{'PASS' if half else 'FAIL'} ({', '.join(f'{op} {r:.2f}x' for op, r in ratios.items())})")
            verdict = verdict if half else "FAIL"
    finally:
        if proc.is_alive():
            ours_end.send("stop")
            if ours_end.poll(30):
                try:
                    ours_end.recv()
                except EOFError:
                    pass
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
