"""Export a period of evidence as one zip an auditor can open and verify offline.

    package.zip
      README.md            how to verify the package offline
      index.html           criterion -> controls -> evidence items (works offline, no scripts)
      evidence.xlsx        summary, one sheet per criterion, full populations, seeded samples
      package.json         period, runs, the last manifest's hash, the sampling seed
      store/               the store subset: manifests + signatures, artifacts, public keys

`store/` has the store's own layout, so `charter evidence verify --package FILE.zip`
runs exactly the checks `verify` runs on the store (the chain may start mid-way: the
first manifest's `previous` names a run before the period).

Samples: auditors test the full population's completeness and accuracy, then sample
from it. AICPA prescribes no sizes; `SAMPLE_SIZES` below is the table commonly used for
recurring controls (e.g. 25 for a daily control, 2 for a quarterly one). A control's
frequency comes from the control catalog when the catalog fixes one (daily, quarterly,
annual); continuous and per-change controls are sized by how often evidence for them
was actually collected in the period. Samples are drawn with Python's
`random.Random(f"{seed}:{control}")` from the population sorted by (time, account,
region, item), so the same seed and period give the same sample; the seed is recorded
in the workbook and in package.json.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from charter import __version__
from charter.evidence.artifact import Artifact
from charter.evidence.errors import ExportError, PackageError
from charter.evidence.manifest import Entry, Manifest, sha256_hex
from charter.evidence.store import EvidenceStore, LocalBackend, key_path, run_prefix, signature_path
from charter.evidence.verify import VerifyReport, verify

#: (frequency, collections per year at or above which it applies, sample size, common range)
SAMPLE_SIZES: list[tuple[str, int, int, str]] = [
    ("multiple times a day", 366, 40, "25-60"),
    ("daily", 250, 25, "20-40"),
    ("weekly", 52, 5, "5-15"),
    ("monthly", 12, 2, "2-5"),
    ("quarterly", 4, 2, "2"),
    ("annual", 0, 1, "1"),
]

CRITERIA: dict[str, str] = {
    "CC1.1": "Integrity and ethical values", "CC1.2": "Board independence and oversight",
    "CC1.3": "Structures, reporting lines, authorities", "CC1.4": "Competence",
    "CC1.5": "Accountability",
    "CC2.1": "Quality information", "CC2.2": "Internal communication", "CC2.3": "External communication",
    "CC3.1": "Objectives", "CC3.2": "Risk identification and analysis", "CC3.3": "Fraud risk",
    "CC3.4": "Changes that affect internal control",
    "CC4.1": "Ongoing and separate evaluations", "CC4.2": "Communicating deficiencies",
    "CC5.1": "Control activities that mitigate risk", "CC5.2": "General controls over technology",
    "CC5.3": "Policies and procedures",
    "CC6.1": "Logical access security", "CC6.2": "Registering and authorizing users",
    "CC6.3": "Granting, changing and removing access", "CC6.4": "Physical access",
    "CC6.5": "Disposal of assets", "CC6.6": "Boundary protection",
    "CC6.7": "Data in transit and movement", "CC6.8": "Malicious software",
    "CC7.1": "Configuration and vulnerability detection", "CC7.2": "Anomaly monitoring",
    "CC7.3": "Security event evaluation", "CC7.4": "Incident response", "CC7.5": "Recovery from incidents",
    "CC8.1": "Change management",
    "CC9.1": "Business disruption risk mitigation", "CC9.2": "Vendor and business partner risk",
    "A1.1": "Capacity", "A1.2": "Backup and recovery infrastructure", "A1.3": "Recovery testing",
    "C1.1": "Identify and protect confidential information", "C1.2": "Dispose of confidential information",
    "PI1.1": "Processing specifications", "PI1.2": "System inputs", "PI1.3": "Processing",
    "PI1.4": "System outputs", "PI1.5": "Stored data",
    "P1.1": "Notice", "P2.1": "Choice and consent", "P3.1": "Collection", "P3.2": "Explicit consent",
    "P4.1": "Use of personal information", "P4.2": "Retention", "P4.3": "Disposal",
    "P5.1": "Access by data subjects", "P5.2": "Correction", "P6.1": "Disclosure to third parties",
    "P6.2": "Record of authorized disclosures", "P6.3": "Record of unauthorized disclosures",
    "P6.4": "Third-party commitments", "P6.5": "Third-party notification of breaches",
    "P6.6": "Breach notification", "P6.7": "Accounting of disclosures", "P7.1": "Data quality",
    "P8.1": "Monitoring and complaints",
}



def criterion_order(cid: str) -> tuple[int, int, int]:
    """CC before A, C, PI, P; numerically within each (CC1.2 < CC1.10)."""
    prefix = cid.rstrip("0123456789.")
    major, _, minor = cid[len(prefix):].partition(".")
    families = ("CC", "A", "C", "PI", "P")
    return (families.index(prefix) if prefix in families else 9, int(major or 0), int(minor or 0))


def frequency(runs: int, first: datetime, last: datetime) -> tuple[str, int]:
    """(frequency name, sample size) from `runs` collections between `first` and `last`."""
    days = max((last - first).total_seconds() / 86400, 0.0)
    per_year = 1.0 if runs <= 1 else (runs - 1) * 365 / max(days, 1 / 24)
    for name, threshold, size, _ in SAMPLE_SIZES:
        if per_year >= threshold:
            return name, size
    return SAMPLE_SIZES[-1][0], SAMPLE_SIZES[-1][2]


@dataclass
class Item:
    """One evidence item in the index: an artifact of one run."""

    run_id: str
    sequence: int
    entry: Entry

    @property
    def href(self) -> str:
        return "store/" + self.entry.path


@dataclass
class ControlView:
    control: str
    items: list[Item] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(i.entry.results.passed for i in self.items)

    @property
    def failed(self) -> int:
        return sum(i.entry.results.failed for i in self.items)

    @property
    def gaps(self) -> int:
        return sum(1 for i in self.items if i.entry.kind == "gap")


@dataclass
class Sample:
    control: str
    frequency: str
    population: int
    size: int
    seed: str
    rows: list[dict[str, Any]]


@dataclass
class ExportResult:
    path: Path
    runs: list[Manifest]
    artifacts: int
    criteria_evidenced: int
    seed: str
    samples: list[Sample]
    report: VerifyReport


def control_criteria(manifests: list[Manifest], catalog: dict[str, list[str]] | None) -> dict[str, set[str]]:
    """criterion -> control ids. From the control catalog when given (exact), else from the
    artifacts (each artifact's criteria for each of its controls, an over-approximation)."""
    out: dict[str, set[str]] = defaultdict(set)
    for m in manifests:
        for e in m.artifacts:
            for control in e.controls:
                crits = catalog.get(control, e.criteria) if catalog else e.criteria
                for c in crits:
                    out[c].add(control)
    return out


#: Catalog frequencies that fix the sample size; the others (continuous, per-change) are
#: sized by how often evidence was actually collected.
_FIXED_FREQUENCIES = ("daily", "quarterly", "annual")


def _catalog_frequencies() -> dict[str, str]:
    """control -> frequency from the control catalog (`controls/`), when installed."""
    try:
        from charter.controls.catalog import default_catalog

        return {cid: c.frequency for cid, c in default_catalog().by_id.items()}
    except Exception:  # noqa: BLE001 - no or broken catalog: infer every frequency
        return {}


def _criteria_titles() -> dict[str, str]:
    """criterion -> title from `controls/criteria.yaml`, else the built-in list."""
    try:
        from charter.controls.catalog import load_criteria

        titles = {c.id: c.title for c in load_criteria().criteria}
    except Exception:  # noqa: BLE001
        return CRITERIA
    return titles if set(titles) >= set(CRITERIA) else CRITERIA


def _catalog(manifests: list[Manifest]) -> dict[str, list[str]] | None:
    """control -> criteria from the collectors' mapping (the catalog's when installed)."""
    try:
        from charter.evidence.collectors.base import criteria_for
    except ImportError:
        return None
    controls = {c for m in manifests for e in m.artifacts for c in e.controls}
    return {c: found for c in controls if (found := criteria_for([c]))}


def _parse_day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ExportError(f"{flag} {text!r}: not a date", hint=f"use {flag} YYYY-MM-DD, e.g. {flag} 2026-01-01") from None


def export(store: EvidenceStore, date_from: str | date, date_to: str | date, out: Path, *,
           seed: str | None = None, catalog: dict[str, list[str]] | None = None,
           organization: str = "") -> ExportResult:
    """Write the package for runs started between `date_from` and `date_to` (UTC, inclusive)."""
    start = date_from if isinstance(date_from, date) else _parse_day(date_from, "--from")
    end = date_to if isinstance(date_to, date) else _parse_day(date_to, "--to")
    if start > end:
        raise ExportError(f"--from {start} is after --to {end}", hint="swap the dates")
    if out.suffix.lower() != ".zip":
        raise ExportError(f"{out}: the package is a .zip", hint=f"use -o {out.with_suffix('.zip')}")
    chain = [(p, store.backend.get(p)) for p in store.manifest_paths()]
    selected = [(p, data, Manifest.parse(data)) for p, data in chain]
    selected = [s for s in selected if start <= s[2].started_at.astimezone(UTC).date() <= end]
    # the whole chain and every signature, but only the artifacts of the exported runs
    report = verify(store.backend, only_runs={m.run_id for *_, m in selected})
    if not report.ok:
        listing = "\n".join("  " + p.render() for p in report.problems[:20])
        raise ExportError(f"{store.backend.url}: verification failed ({len(report.problems)} problems); "
                          f"refusing to export evidence that is not intact:\n{listing}",
                          hint=f"run `charter evidence verify {store.backend.url}` and investigate")
    if not selected:
        raise ExportError(f"no sealed runs between {start} and {end} in {store.backend.url}",
                          hint=f"collected runs span {report.first.started_at:%Y-%m-%d} .. "
                               f"{report.last.started_at:%Y-%m-%d}" if report.first and report.last else None)
    manifests = [m for *_, m in selected]
    seed = seed or sha256_hex(selected[-1][1])[:16]

    by_criterion = control_criteria(manifests, catalog if catalog is not None else _catalog(manifests))
    controls: dict[str, ControlView] = {}
    for m in manifests:
        for e in m.artifacts:
            for c in e.controls:
                controls.setdefault(c, ControlView(c)).items.append(Item(m.run_id, m.sequence, e))
    for view in controls.values():
        view.items.sort(key=lambda i: (i.entry.collected_at, i.entry.account_id, i.entry.region, i.entry.path))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            # artifacts stream from the store into the zip (a quarter of a large org does not
            # fit in memory); only the population rows are kept, for sampling and the workbook
            population = _copy_store(store, selected, zf)
            samples = _samples(population, manifests, seed, _catalog_frequencies())
            meta = {
                "organization": organization, "from": start.isoformat(), "to": end.isoformat(),
                "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "charter_version": __version__, "store": store.backend.url, "seed": seed,
                "runs": [{"sequence": m.sequence, "run_id": m.run_id, "manifest": path, "sha256": sha256_hex(data),
                          "started_at": m.started_at.isoformat(), "sealed_at": m.sealed_at.isoformat(),
                          "artifacts": len(m.artifacts)} for path, data, m in selected],
                "keys": sorted({m.key_id for m in manifests}),
                "last_manifest_sha256": sha256_hex(selected[-1][1]),
            }
            zf.writestr("README.md", _readme(meta, out.name))
            zf.writestr("index.html", _render_index(meta, by_criterion, controls, samples))
            zf.writestr("evidence.xlsx", _workbook(meta, by_criterion, controls, population, samples, manifests))
            zf.writestr("package.json", json.dumps(meta, indent=2, sort_keys=True))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, manifests, sum(len(m.artifacts) for m in manifests),
                        sum(1 for c in CRITERIA if by_criterion.get(c)), seed, samples, report)


def _copy_store(store: EvidenceStore, selected: list[tuple[str, bytes, Manifest]],
                zf: zipfile.ZipFile) -> list[dict[str, Any]]:
    """Copy the selected runs' store objects into `store/` of the zip, re-checking each
    artifact's hash on the bytes written; return every population item, in a stable order."""
    written: set[str] = set()

    def put(path: str, data: bytes) -> None:
        if path not in written:
            zf.writestr("store/" + path, data)
            written.add(path)

    rows: list[dict[str, Any]] = []
    for path, data, m in selected:
        put(path, data)
        put(signature_path(m.sequence), store.backend.get(signature_path(m.sequence)))
        put(key_path(m.key_id), store.backend.get(key_path(m.key_id)))
        for bookkeeping in ("run.json", "sealed.json"):
            put(run_prefix(m.run_id) + bookkeeping, store.backend.get(run_prefix(m.run_id) + bookkeeping))
        for e in m.artifacts:
            blob = store.backend.get(e.path)
            if sha256_hex(blob) != e.sha256:  # changed since verification: never package it
                raise ExportError(f"{store.backend.url}/{e.path}: changed while exporting",
                                  hint=f"run `charter evidence verify {store.backend.url}` and investigate")
            put(e.path, blob)
            if e.kind == "gap":
                continue
            art = Artifact.model_validate_json(blob)
            for p in art.population:
                rows.append({"run_id": m.run_id, "collected_at": art.collected_at.astimezone(UTC).isoformat(),
                             "control": p.control, "account_id": art.account_id, "account_name": art.account_name,
                             "region": art.region, "collector": art.collector, "item": p.id, "result": p.result,
                             "reason": p.reason, "artifact": "store/" + e.path})
    rows.sort(key=lambda r: (r["collected_at"], r["account_id"], r["region"], r["control"], r["item"], r["run_id"]))
    for i, row in enumerate(rows, 1):
        row["row"] = i  # the row number on the Population sheet, which samples cite
    return rows


def _samples(population: list[dict[str, Any]], manifests: list[Manifest], seed: str,
             frequencies: dict[str, str] | None = None) -> list[Sample]:
    by_control: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in population:
        by_control[row["control"]].append(row)
    runs_with: dict[str, set[str]] = defaultdict(set)
    for m in manifests:
        for e in m.artifacts:
            for c in e.controls:
                runs_with[c].add(m.run_id)
    started = {m.run_id: m.started_at for m in manifests}
    out = []
    for control in sorted(by_control):
        rows = by_control[control]
        times = sorted(started[r] for r in runs_with[control])
        documented = (frequencies or {}).get(control)
        if documented in _FIXED_FREQUENCIES:
            freq, size = documented, next(row[2] for row in SAMPLE_SIZES if row[0] == documented)
        else:
            freq, size = frequency(len(times), times[0], times[-1])
            if documented:
                freq = f"{documented} (collected {freq})"
        size = min(size, len(rows))
        picked = sorted(random.Random(f"{seed}:{control}").sample(range(len(rows)), size))
        out.append(Sample(control, freq, len(rows), size, seed, [rows[i] | {"population_row": rows[i]["row"]} for i in picked]))
    return out


def _criteria_rows(by_criterion: dict[str, set[str]]) -> list[tuple[str, str, list[str]]]:
    titles = _criteria_titles()
    ids = sorted(set(CRITERIA) | set(by_criterion), key=criterion_order)
    return [(c, titles.get(c, ""), sorted(by_criterion.get(c, ()))) for c in ids]


def _render_index(meta: dict[str, Any], by_criterion: dict[str, set[str]], controls: dict[str, ControlView],
                  samples: list[Sample]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("charter.templates", "."),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    return env.get_template("evidence_index.html.j2").render(
        meta=meta, criteria=_criteria_rows(by_criterion), controls=controls,
        samples={s.control: s for s in samples}, sample_sizes=SAMPLE_SIZES)


def _workbook(meta: dict[str, Any], by_criterion: dict[str, set[str]], controls: dict[str, ControlView],
              population: list[dict[str, Any]], samples: list[Sample], manifests: list[Manifest]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)  # streams rows: populations can be large
    ws = wb.create_sheet("Summary")
    ws.append(["Charter evidence export"])
    for key in ("organization", "from", "to", "generated_at", "charter_version", "store", "last_manifest_sha256"):
        ws.append([key, str(meta[key])])
    ws.append(["sampling seed", meta["seed"]])
    ws.append(["sampling method", "per control: random.Random(f'{seed}:{control}').sample(range(n), size) over "
                                  "that control's rows of the Population sheet (sorted by collected_at, account, "
                                  "region, control, item); Samples cites the Population row"])
    ws.append(["signing keys (SHA-256 of public key)", ", ".join(meta["keys"])])
    ws.append([])
    ws.append(["run", "sequence", "started_at", "sealed_at", "artifacts", "manifest SHA-256"])
    for r in meta["runs"]:
        ws.append([r["run_id"], r["sequence"], r["started_at"], r["sealed_at"], r["artifacts"], r["sha256"]])
    ws.append([])
    ws.append(["sample-size table (common audit practice; AICPA prescribes none)"])
    ws.append(["frequency", "collections per year >=", "sample size", "common range"])
    for row in SAMPLE_SIZES:
        ws.append(list(row))
    ws.append([])
    ws.append(["criterion", "title", "controls", "evidence items", "population pass", "population fail", "gaps"])
    crit_rows = _criteria_rows(by_criterion)
    for cid, title, ctrls in crit_rows:
        views = [controls[c] for c in ctrls if c in controls]
        ws.append([cid, title, ", ".join(ctrls) or "no automated evidence (attestation: see runbooks)",
                   sum(len(v.items) for v in views), sum(v.passed for v in views), sum(v.failed for v in views),
                   sum(v.gaps for v in views)])

    for cid, title, ctrls in crit_rows:
        ws = wb.create_sheet(cid)
        ws.append([f"{cid} {title}"])
        ws.append(["control", "kind", "collector", "account", "account name", "region", "collected_at", "pass",
                   "fail", "n/a", "run", "artifact", "SHA-256"])
        if not ctrls:
            ws.append(["no automated evidence in this period (attestation controls: see the runbooks)"])
        for c in ctrls:
            for item in controls[c].items if c in controls else []:
                e = item.entry
                ws.append([c, e.kind, e.collector, e.account_id, e.account_name, e.region,
                           e.collected_at.astimezone(UTC).isoformat(), e.results.passed, e.results.failed,
                           e.results.not_applicable, item.run_id, item.href, e.sha256])

    columns = ["run_id", "collected_at", "control", "account_id", "account_name", "region", "collector", "item",
               "result", "reason", "artifact"]
    _long_sheet(wb, "Population", ["row", *columns], ([row["row"], *[row[c] for c in columns]] for row in population))
    _long_sheet(wb, "Samples", ["control", "frequency", "population", "sample size", "seed", "population row", *columns],
                ([s.control, s.frequency, s.population, s.size, s.seed, row["population_row"],
                  *[row[c] for c in columns]] for s in samples for row in s.rows))

    ws = wb.create_sheet("Gaps")
    ws.append(["run", "collector", "account", "region", "collected_at", "artifact", "what failed"])
    for m in manifests:
        for e in m.artifacts:
            if e.kind == "gap":
                ws.append([m.run_id, e.collector, e.account_id, e.region, e.collected_at.astimezone(UTC).isoformat(),
                           "store/" + e.path, "see the artifact's `error` field"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


#: Excel's limit is 1,048,576 rows a sheet; a longer population continues on "Population (2)", ...
SHEET_ROWS = 1_000_000


def _long_sheet(wb: Any, title: str, header: list[str], rows: Iterable[list[Any]]) -> None:
    """Write `rows` under `header`, continuing on numbered sheets past Excel's row limit."""
    part, count = 1, 0
    ws = wb.create_sheet(title)
    ws.append(header)
    for row in rows:
        if count == SHEET_ROWS:
            part, count = part + 1, 0
            ws = wb.create_sheet(f"{title} ({part})")
            ws.append(header)
        ws.append(row)
        count += 1


def _readme(meta: dict[str, Any], name: str) -> str:
    return f"""# Charter evidence package {meta['from']} .. {meta['to']}

Organization: {meta['organization'] or '-'}; generated {meta['generated_at']} by Charter {meta['charter_version']}.

- `index.html`: SOC2 criterion -> controls -> evidence items; links open the artifacts.
- `evidence.xlsx`: summary, one sheet per criterion, the full population, and samples
  per control (seed `{meta['seed']}`; the sample-size table is on the Summary sheet).
- `store/`: the evidence exactly as stored: `manifests/` (the hash chain and its
  signatures), `runs/<run>/artifacts/` (one JSON file per collector, account and region),
  `keys/` (the public keys that signed the manifests).

## Verify this package offline

    charter evidence verify --package {name}

This recomputes the SHA-256 of every artifact and manifest, checks that the manifests
form an unbroken chain (each names the previous one's SHA-256, as CloudTrail digest
files do) and checks every manifest's signature. It needs no AWS access. To pin the
signing key rather than trust the one in the package, compare the fingerprint(s)

    {chr(10).join('    ' + k for k in meta['keys']).strip()}

with the one your organization published, and pass `--public-key <that published key>.pem`.

Without Charter: each `store/manifests/NNNNNNNN.json` lists `path` and `sha256` of every
artifact (`sha256sum store/<path>`), and `previous.sha256` is `sha256sum` of the manifest
before it. The signature file signs the text `charter-evidence-manifest:v1:<manifest sha256>`
(Ed25519, or ECDSA P-256/SHA-256 for KMS keys) with the key in `store/keys/`.

The last manifest in this package has SHA-256 `{meta['last_manifest_sha256']}`.
"""


# -- verifying a package ----------------------------------------------------------------------

def verify_package(path: Path, *, trusted_keys: list[Any] | None = None, workdir: Path | None = None) -> VerifyReport:
    """Extract `path` (safely) and verify its `store/`; also that every run package.json lists is there."""
    import tempfile

    if not path.is_file():
        raise PackageError(f"{path}: no such file", hint="pass the .zip that `charter evidence export` wrote")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackageError(f"{path}: not a readable zip ({exc})",
                           hint="the file is corrupt or truncated: download it again or re-run the export") from None
    tmp_ctx = tempfile.TemporaryDirectory(prefix="charter-package-") if workdir is None else None
    root = Path(tmp_ctx.name) if tmp_ctx else workdir
    try:
        with zf:
            names = zf.namelist()
            if "package.json" not in names or not any(n.startswith("store/manifests/") for n in names):
                raise PackageError(f"{path}: not a Charter evidence package (no package.json or store/manifests/)",
                                   hint="pass the .zip that `charter evidence export` wrote")
            for name in names:
                if name.startswith("/") or ".." in name.split("/"):
                    raise PackageError(f"{path}: unsafe member name {name!r}",
                                       hint="do not use this package; it was not written by Charter")
            try:
                zf.extractall(root)
                meta = json.loads(zf.read("package.json"))
            except (zipfile.BadZipFile, OSError, ValueError, zipfile.LargeZipFile) as exc:
                raise PackageError(f"{path}: cannot be extracted ({exc})",
                                   hint="the file is corrupt: download it again or re-run the export") from None
        report = verify(LocalBackend(root / "store"), trusted_keys=trusted_keys or (), partial=True)
        present = {m for m in (LocalBackend(root / "store").list("manifests/"))}
        for run in meta.get("runs", []):
            if run.get("manifest") not in present:
                report.add(run.get("manifest", "?"), "missing",
                           f"package.json lists run {run.get('run_id')} but its manifest is not in the package")
        return report
    finally:
        if tmp_ctx:
            tmp_ctx.cleanup()


__all__ = ["CRITERIA", "SAMPLE_SIZES", "export", "verify_package"]
