"""What checkov's JSONPath parser rebuilding costs on Charter's templates, and what the
upstream patch in `docs/upstream/bc-jsonpath-ng-parser-cache.patch` saves.

checkov parses each distinct JSONPath of its graph checks once (it caches the parsed
expressions), but `bc_jsonpath_ng` builds a new PLY LALR parser, tables and all, for every
parse. The benchmark runs checkov, as `charter lint` runs it (the same environment,
`charter tools install`; the same arguments), in-process on the templates of a synth,
twice per round: as installed, and with the patched `bc_jsonpath_ng` (a copy of the
installed package with the patch applied, first on `sys.path`). It counts the parser
table builds and their CPU, and asserts that both report the same checks (passed, failed,
skipped: check id, file, resource) before it prints a ratio.

Core budget: each run is one checkov process alone (checkov's own parallelism as installed,
the same for both); CPU is that process's user + system time, wall is printed beside it.
Runs: `--repeat` rounds, the order alternating (as installed first in even rounds).

    charter synth -c examples/large/org.yaml -o /tmp/large && python benchmarks/checkov_parser_cache.py /tmp/large
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PATCH = REPO / "docs" / "upstream" / "bc-jsonpath-ng-parser-cache.patch"

#: Runs inside checkov's environment: checkov in-process, PLY's table builds counted.
CHILD = r"""
import contextlib, io, json, os, sys, time
import ply.yacc
builds = {"n": 0, "cpu": 0.0}
real = ply.yacc.yacc
def counted(*a, **k):
    t = time.process_time(); parser = real(*a, **k)
    builds["n"] += 1; builds["cpu"] += time.process_time() - t
    return parser
ply.yacc.yacc = counted
import bc_jsonpath_ng.parser
from checkov.main import Checkov
argv = ["--framework", "cloudformation", "--output", "json", "--soft-fail", "--compact", "--skip-download"]
for f in sys.argv[1:]:
    argv += ["--file", f]
out = io.StringIO()
c0, t0 = time.process_time(), time.perf_counter()
with contextlib.redirect_stdout(out):
    try:
        Checkov(argv=argv).run()
    except SystemExit:
        pass
cpu, wall = time.process_time() - c0, time.perf_counter() - t0
report = json.loads(out.getvalue())
checks = sorted([k, c["check_id"], c.get("file_path"), c.get("resource")]
                for r in (report if isinstance(report, list) else [report])
                for k in ("passed_checks", "failed_checks", "skipped_checks")
                for c in r.get("results", {}).get(k, []))
print(json.dumps({"cpu": cpu, "wall": wall, "builds": builds["n"], "build_cpu": builds["cpu"], "checks": checks,
                  "module": bc_jsonpath_ng.parser.__file__}))
"""


def patched_copy(python: str, into: Path) -> Path:
    """The installed bc_jsonpath_ng, copied under `into` with the upstream patch applied."""
    found = subprocess.run([python, "-c", "import bc_jsonpath_ng, os; print(os.path.dirname(bc_jsonpath_ng.__file__))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    shutil.copytree(found, into / "bc_jsonpath_ng")
    subprocess.run(["patch", "-s", "-p1", "-d", str(into), "-i", str(PATCH)], check=True)
    return into


def run(python: str, files: list[str], overlay: Path | None) -> dict:
    env = {**os.environ, "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"}
    if overlay is not None:
        env["PYTHONPATH"] = str(overlay)
    proc = subprocess.run([python, "-c", CHILD, *files], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"checkov failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("synth", type=Path, help="a `charter synth` output folder")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the order alternates (default 2)")
    args = parser.parse_args()
    from charter.toolenv import ensure_checkov

    python = str(Path(ensure_checkov()).with_name("python"))
    files = sorted(str(p) for p in args.synth.glob("*.yaml"))
    if not files:
        print(f"no templates in {args.synth}; run charter synth first")
        return 2
    with tempfile.TemporaryDirectory(prefix="charter-jsonpath-") as tmp:
        overlay = patched_copy(python, Path(tmp))
        runs: dict[str, list[dict]] = {"installed": [], "patched": []}
        print(f"core budget: one checkov process at a time on CPUs {sorted(os.sched_getaffinity(0))} (load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}); {len(files)} templates; {args.repeat} rounds, "
              "order alternating (installed first in even rounds)")
        for i in range(args.repeat):
            for side in (("installed", "patched") if i % 2 == 0 else ("patched", "installed")):
                runs[side].append(run(python, files, overlay if side == "patched" else None))
        assert all(r["module"].startswith(str(overlay)) for r in runs["patched"]), "the patched copy was not the one loaded"
        first = runs["installed"][0]["checks"]
        if any(r["checks"] != first for side in runs.values() for r in side):
            print("DISAGREEMENT: the patched parser's checkov reports other checks; no ratio printed")
            return 1
        kinds = {k: sum(1 for c in first if c[0] == k) for k in ("passed_checks", "failed_checks", "skipped_checks")}
        print(f"agreement asserted: every run reports the same {len(first)} checks "
              f"({kinds['passed_checks']} passed, {kinds['failed_checks']} failed, {kinds['skipped_checks']} skipped)")
        for side, rs in runs.items():
            print(f"{side:9}  CPU median {statistics.median(r['cpu'] for r in rs):6.2f} s  wall median "
                  f"{statistics.median(r['wall'] for r in rs):6.1f} s  parser table builds {rs[0]['builds']:4} "
                  f"({statistics.median(r['build_cpu'] for r in rs):5.2f} s CPU)")
        cpu = {side: statistics.median(r["cpu"] for r in rs) for side, rs in runs.items()}
        print(f"ratio (installed / patched), checkov CPU: {cpu['installed'] / cpu['patched']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
