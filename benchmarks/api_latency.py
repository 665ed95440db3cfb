"""API latency of the local optimizer API under 50 concurrent clients.

Starts the embedded AWS (moto server) and the local API server, ingests a small data
set, then 50 client threads each submit jobs (POST /optimize) and read status
(GET /jobs/{id}) over HTTP. Prints request counts and p50/p95/p99 per operation next to
the peer baseline: the production target of the spec, p99 < 500 ms at API Gateway;
the local bar is p99 < 200 ms.

    python benchmarks/api_latency.py [--clients 50] [--requests 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "workloads")]

PRODUCTION_P99_MS = 500.0  # the spec's API target (peer baseline)
LOCAL_P99_MS = 200.0


class _External:
    """A moto server process, shaped like `LocalAws` for the `with` below."""

    def __init__(self, url: str, proc: object) -> None:
        self.url, self.proc = url, proc

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1"}

    def __enter__(self) -> _External:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()  # type: ignore[attr-defined]
        self.proc.wait()  # type: ignore[attr-defined]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def run(url: str, body: dict, n_clients: int, n_requests: int) -> str:
    timings: dict[str, list[float]] = {"submit": [], "status": []}
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n_clients)

    def client(n: int) -> None:
        session = requests.Session()
        headers = {"X-Charter-User": f"bench-{n}"}
        start.wait()
        for _ in range(n_requests):
            t0 = time.perf_counter()
            r = session.post(f"{url}/optimize", json=body, headers=headers, timeout=30)
            t1 = time.perf_counter()
            if r.status_code != 202:
                errors.append(f"submit {r.status_code}")
                continue
            job = r.json()["job_id"]
            t2 = time.perf_counter()
            s = session.get(f"{url}/jobs/{job}", headers=headers, timeout=30)
            t3 = time.perf_counter()
            if s.status_code != 200:
                errors.append(f"status {s.status_code}")
            with lock:
                timings["submit"].append((t1 - t0) * 1000)
                timings["status"].append((t3 - t2) * 1000)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(n_clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    total = sum(len(v) for v in timings.values())
    print(f"\nlocal API, {n_clients} concurrent clients, {total} requests in {wall:.1f} s "
          f"({total / wall:.0f} req/s), {len(errors)} errors")
    print(f"{'operation':<10}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'vs prod p99 500 ms':>22}")
    worst = 0.0
    for op, values in timings.items():
        p99 = percentile(values, 99)
        worst = max(worst, p99)
        print(f"{op:<10}{len(values):>6}{statistics.median(values):>10.1f}{percentile(values, 95):>10.1f}"
              f"{p99:>10.1f}{p99 / PRODUCTION_P99_MS:>21.2f}x")
    verdict = "PASS" if worst < LOCAL_P99_MS and not errors else "FAIL"
    print(f"peer baseline: spec production target p99 < {PRODUCTION_P99_MS:.0f} ms; local bar p99 < "
          f"{LOCAL_P99_MS:.0f} ms -> {verdict}")
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 50],
                        help="client counts to run in turn; the verdict is on the last")
    parser.add_argument("--requests", type=int, default=10, help="submit+status pairs per client")
    parser.add_argument("--moto-process", action=argparse.BooleanOptionalAction, default=True,
                        help="run moto in a separate process (default) instead of a thread of this one")
    args = parser.parse_args()

    from handlers_testkit import SETTINGS, ingest_prices, settings_env

    from charter.local import LocalAws
    from workloads.handlers import aws
    from workloads.server import LocalApiServer

    if args.moto_process:
        # moto in its own process: as in AWS, the data services do not share this process's GIL.
        import socket
        import subprocess

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(url + "/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        moto_ctx: object = _External(url, proc)
    else:
        moto_ctx = LocalAws()
    with moto_ctx as moto:  # type: ignore[attr-defined]
        os.environ.update({**settings_env(), **moto.env()})
        aws.reset()
        with LocalApiServer(SETTINGS) as server:
            ingest_prices(n_assets=5, n_days=300)
            body = {"assets": ["A000", "A001", "A002", "A003", "A004"], "objective": "min_variance",
                    "backtest": {"enabled": False}, "horizon_days": 60}
            verdict = "FAIL"
            for clients in args.clients:
                verdict = run(server.url, body, clients, args.requests)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
