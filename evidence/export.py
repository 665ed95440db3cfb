"""Export a period of evidence as one zip an auditor can open and verify offline.

    package.zip
      README.md            how to verify the package offline
      index.html           summary, charts, failures and gaps with reasons, criterion -> controls
                           -> evidence items, search and filters (one file, works offline)
      evidence.xlsx        summary, per-control and per-criterion counts, full populations,
                           seeded samples, gaps with their reasons
      package.json         period, signed run range, the SHA-256 of every other file, the seed
      package.sig.json     the signature of package.json (same key as the manifests)
      store/               the store subset: manifests + signatures, artifacts, public keys

Every count is a control's own: an artifact carries several controls, and each of its
population items speaks to exactly one of them, so a control's pass/fail/gap counts
come from its items alone (a gap artifact is one gap for each control it carries).

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

import random
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from charter import __version__
from charter.evidence.artifact import Artifact
from charter.evidence.errors import ExportError
from charter.evidence.export_workbook import build_workbook
from charter.evidence.manifest import Entry, Manifest, sha256_hex
from charter.evidence.package import PACKAGE_JSON, PACKAGE_SIG, package_json, verify_package
from charter.evidence.signing import Signer, sign_package
from charter.evidence.store import EvidenceStore, key_path, run_prefix, signature_path
from charter.evidence.verify import VerifyReport, verify
from charter.templates.charts import Series, stacked_bars

#: (frequency, collections per year at or above which it applies, sample size, common range)
SAMPLE_SIZES: list[tuple[str, int, int, str]] = [
    ("multiple times a day", 366, 40, "25-60"),
    ("daily", 250, 25, "20-40"),
    ("weekly", 52, 5, "5-15"),
    ("monthly", 12, 2, "2-5"),
    ("quarterly", 4, 2, "2"),
    ("annual", 0, 1, "1"),
]

def criteria_titles() -> dict[str, str]:
    """criterion -> title, every one of the 61, from the control catalog's criteria list."""
    from charter.controls.catalog import default_catalog

    return {cid: c.title for cid, c in default_catalog().criteria.items()}


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
    """One artifact of one run, seen from one control it carries: that control's own items."""

    run_id: str
    sequence: int
    entry: Entry
    control: str = ""
    passed: int = 0
    failed: int = 0
    not_applicable: int = 0
    #: items of this control that could not be judged (result `gap`)
    item_gaps: int = 0
    #: (result, item id, reason) of each failed or unjudged item of this control
    findings: list[tuple[str, str, str]] = field(default_factory=list)
    #: why the whole artifact is a gap (the collector could not read this account/region)
    gap_reason: str = ""
    #: Population rows of this control's items in this artifact that the sample drew
    sampled: list[int] = field(default_factory=list)

    @property
    def href(self) -> str:
        return "store/" + self.entry.path

    @property
    def is_gap(self) -> bool:
        return self.entry.kind == "gap"

    @property
    def gaps(self) -> int:
        """A gap artifact is one gap for each control it carries; plus unjudged items."""
        return self.item_gaps + (1 if self.is_gap else 0)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.not_applicable + self.item_gaps

    @property
    def status(self) -> str:
        if self.failed:
            return "fail"
        if self.gaps:
            return "gap"
        if self.passed:
            return "pass"
        return "n/a" if self.not_applicable else "none"


@dataclass
class ControlView:
    """One control over the period: counts from its own population items only."""

    control: str
    items: list[Item] = field(default_factory=list)
    title: str = ""

    @property
    def family(self) -> str:
        return self.control.split("-")[0]

    @property
    def passed(self) -> int:
        return sum(i.passed for i in self.items)

    @property
    def failed(self) -> int:
        return sum(i.failed for i in self.items)

    @property
    def not_applicable(self) -> int:
        return sum(i.not_applicable for i in self.items)

    @property
    def gaps(self) -> int:
        return sum(i.gaps for i in self.items)

    @property
    def population(self) -> int:
        return sum(i.total for i in self.items)

    @property
    def status(self) -> str:
        return "fail" if self.failed else "gap" if self.gaps else "pass" if self.passed else "none"


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
    controls: dict[str, ControlView] = field(default_factory=dict)


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


def _catalog_info() -> dict[str, tuple[str, str]]:
    """control -> (title, frequency) from the control catalog."""
    from charter.controls.catalog import default_catalog

    return {cid: (c.title, c.frequency) for cid, c in default_catalog().by_id.items()}


def _catalog(manifests: list[Manifest]) -> dict[str, list[str]] | None:
    """control -> criteria from the control catalog, for the controls the runs name (an id an
    older run names that the catalog no longer defines maps to no criterion)."""
    from charter.controls.catalog import default_catalog

    catalog = default_catalog()
    controls = {c for m in manifests for e in m.artifacts for c in e.controls if c in catalog}
    return {c: catalog.get(c).criteria for c in controls}


def _parse_day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ExportError(f"{flag} {text!r}: not a date", hint=f"use {flag} YYYY-MM-DD, e.g. {flag} 2026-01-01") from None


def export(store: EvidenceStore, date_from: str | date, date_to: str | date, out: Path, *,
           signer: Signer, seed: str | None = None, catalog: dict[str, list[str]] | None = None,
           organization: str = "") -> ExportResult:
    """Write the package for runs started between `date_from` and `date_to` (UTC, inclusive),
    every file of it listed with its SHA-256 in `package.json` and that signed by `signer`."""
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
    info = _catalog_info()
    by_criterion = control_criteria(manifests, catalog if catalog is not None else _catalog(manifests))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            files: dict[str, str] = {}

            def put(name: str, data: bytes | str) -> None:
                blob = data.encode() if isinstance(data, str) else data
                zf.writestr(name, blob)
                files[name] = sha256_hex(blob)

            # artifacts stream from the store into the zip (a quarter of a large org does not
            # fit in memory); only the population rows and per-control tallies are kept
            population, controls = _copy_store(store, selected, put)
            for cid, view in controls.items():
                view.title = info.get(cid, ("", ""))[0]
            samples = _samples(population, manifests, seed, {c: f for c, (_, f) in info.items()})
            _mark_samples(samples, controls)
            meta = {
                "organization": organization, "from": start.isoformat(), "to": end.isoformat(),
                "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "charter_version": __version__, "store": store.backend.url, "seed": seed,
                "runs": [{"sequence": m.sequence, "run_id": m.run_id, "manifest": path, "sha256": sha256_hex(data),
                          "started_at": m.started_at.isoformat(), "sealed_at": m.sealed_at.isoformat(),
                          "artifacts": len(m.artifacts)} for path, data, m in selected],
                "first_sequence": selected[0][2].sequence, "last_sequence": selected[-1][2].sequence,
                "keys": sorted({m.key_id for m in manifests}),
                "last_manifest_sha256": sha256_hex(selected[-1][1]),
                "package_key": signer.key_id,
            }
            crit_rows = _criteria_rows(by_criterion)
            put("README.md", _readme(meta, out.name))
            put("index.html", _render_index(meta, crit_rows, controls, samples, population))
            put("evidence.xlsx", build_workbook(meta, crit_rows, controls, population, samples,
                                                sample_sizes=SAMPLE_SIZES))
            body = package_json(meta, files)
            zf.writestr(PACKAGE_JSON, body)
            zf.writestr(PACKAGE_SIG, sign_package(signer, sha256_hex(body)).model_dump_json(indent=2))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, manifests, sum(len(m.artifacts) for m in manifests),
                        sum(1 for c in criteria_titles() if by_criterion.get(c)), seed, samples, report, controls)


def _copy_store(store: EvidenceStore, selected: list[tuple[str, bytes, Manifest]],
                put: Callable[[str, bytes], None]) -> tuple[list[dict[str, Any]], dict[str, ControlView]]:
    """Copy the selected runs' store objects into `store/` of the zip, re-checking each
    artifact's hash on the bytes written; return every population item, in a stable order,
    and each control's view built from its own items."""
    written: set[str] = set()

    def copy(path: str, data: bytes) -> None:
        if path not in written:
            put("store/" + path, data)
            written.add(path)

    rows: list[dict[str, Any]] = []
    controls: dict[str, ControlView] = {}
    for path, data, m in selected:
        copy(path, data)
        copy(signature_path(m.sequence), store.backend.get(signature_path(m.sequence)))
        copy(key_path(m.key_id), store.backend.get(key_path(m.key_id)))
        for bookkeeping in ("run.json", "sealed.json"):
            copy(run_prefix(m.run_id) + bookkeeping, store.backend.get(run_prefix(m.run_id) + bookkeeping))
        for e in m.artifacts:
            blob = store.backend.get(e.path)
            if sha256_hex(blob) != e.sha256:  # changed since verification: never package it
                raise ExportError(f"{store.backend.url}/{e.path}: changed while exporting",
                                  hint=f"run `charter evidence verify {store.backend.url}` and investigate")
            copy(e.path, blob)
            art = Artifact.model_validate_json(blob)
            views = {c: Item(m.run_id, m.sequence, e, control=c) for c in e.controls}
            if e.kind == "gap":
                for view in views.values():
                    view.gap_reason = art.error or "the collector could not read this account and region"
            for p in art.population:
                view = views.get(p.control)
                if view is None:  # an item for a control the artifact does not name: show it anyway
                    view = views[p.control] = Item(m.run_id, m.sequence, e, control=p.control)
                if p.result == "pass":
                    view.passed += 1
                elif p.result == "fail":
                    view.failed += 1
                    view.findings.append(("fail", p.id, p.reason))
                elif p.result == "gap":
                    view.item_gaps += 1
                    view.findings.append(("gap", p.id, p.reason))
                else:
                    view.not_applicable += 1
                rows.append({"run_id": m.run_id, "collected_at": art.collected_at.astimezone(UTC).isoformat(),
                             "control": p.control, "account_id": art.account_id, "account_name": art.account_name,
                             "region": art.region, "collector": art.collector, "item": p.id, "result": p.result,
                             "reason": p.reason, "artifact": "store/" + e.path})
            for c, view in views.items():
                controls.setdefault(c, ControlView(c)).items.append(view)
    rows.sort(key=lambda r: (r["collected_at"], r["account_id"], r["region"], r["control"], r["item"], r["run_id"]))
    for i, row in enumerate(rows, 1):
        row["row"] = i  # the row number on the Population sheet, which samples cite
    for view in controls.values():
        view.items.sort(key=lambda i: (i.entry.collected_at, i.entry.account_id, i.entry.region, i.entry.path))
    return rows, controls


def _mark_samples(samples: list[Sample], controls: dict[str, ControlView]) -> None:
    """Tell each (control, artifact) which of its population rows the sample drew."""
    for s in samples:
        view = controls.get(s.control)
        if view is None:
            continue
        by_artifact = {i.href: i for i in view.items}
        for row in s.rows:
            item = by_artifact.get(row["artifact"])
            if item is not None:
                item.sampled.append(row["population_row"])
                row["sampled"] = True


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
        times = sorted(started[r] for r in runs_with[control] | {row["run_id"] for row in rows})
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
    titles = criteria_titles()
    ids = sorted(set(titles) | set(by_criterion), key=criterion_order)
    return [(c, titles.get(c, ""), sorted(by_criterion.get(c, ()))) for c in ids]


#: How the index and the workbook say a sample was drawn, in words and as code.
SAMPLING_PLAIN = ("For each control, every item checked in the period is listed (the Population sheet, in a fixed "
                  "order: time, account, region, control, item). A number of them is then picked at random: how "
                  "many depends on how often the control operates (the sample-size table). The pick is driven by "
                  "the seed, so anyone with this workbook and the seed gets exactly the same sample.")
SAMPLING_CODE = ("per control: random.Random(f'{seed}:{control}').sample(range(n), size) over that control's rows "
                 "of the Population sheet (sorted by collected_at, account, region, control, item); Samples cites "
                 "the Population row")

#: Colours shared by the index's charts and badges.
RESULT_SERIES = (Series("passed", "pass", "#1a7f37"), Series("failed", "fail", "#cf222e"),
                 Series("gaps", "gap", "#bf8700"), Series("not_applicable", "n/a", "#8c959f"))


def _render_index(meta: dict[str, Any], crit_rows: list[tuple[str, str, list[str]]],
                  controls: dict[str, ControlView], samples: list[Sample], population: list[dict[str, Any]]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("charter.templates", "."),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    ordered = [controls[c] for c in sorted(controls)]
    families: dict[str, list[ControlView]] = defaultdict(list)
    for view in ordered:
        families[view.family].append(view)
    charts = {fam: stacked_bars(f"{fam} controls: items by result", [
        (v.control, {"passed": v.passed, "failed": v.failed, "gaps": v.gaps, "not_applicable": v.not_applicable})
        for v in views], RESULT_SERIES, link_prefix="control-") for fam, views in families.items()}
    findings = [(view, item, result, what, reason) for view in ordered for item in view.items
                for result, what, reason in (item.findings or ([("gap", "(whole artifact)", item.gap_reason)]
                                                               if item.is_gap else []))]
    totals = {"passed": sum(1 for r in population if r["result"] == "pass"),
              "failed": sum(1 for r in population if r["result"] == "fail"),
              "not_applicable": sum(1 for r in population if r["result"] == "not_applicable"),
              "item_gaps": sum(1 for r in population if r["result"] == "gap"),
              "artifact_gaps": sum(1 for v in ordered for i in v.items if i.is_gap),
              "population": len(population),
              "artifacts": sum(r["artifacts"] for r in meta["runs"]),
              "controls": len(ordered), "controls_failing": sum(1 for v in ordered if v.failed),
              "controls_gap": sum(1 for v in ordered if v.gaps and not v.failed),
              "criteria_evidenced": sum(1 for _, _, ctrls in crit_rows if ctrls),
              "criteria": len(crit_rows), "sampled": sum(s.size for s in samples)}
    return env.get_template("evidence_index.html.j2").render(
        meta=meta, criteria=[(cid, title, ctrls, [controls[c] for c in ctrls if c in controls])
                             for cid, title, ctrls in crit_rows], controls=controls, ordered=ordered, families=families, charts=charts,
        findings=findings, totals=totals, samples={s.control: s for s in samples}, sample_sizes=SAMPLE_SIZES,
        sampling_plain=SAMPLING_PLAIN, sampling_code=SAMPLING_CODE)


def _readme(meta: dict[str, Any], name: str) -> str:
    return f"""# Charter evidence package {meta['from']} .. {meta['to']}

Organization: {meta['organization'] or '-'}; generated {meta['generated_at']} by Charter {meta['charter_version']}.

- `index.html`: summary, a chart per control family, every failure and gap with its reason,
  SOC2 criterion -> controls -> evidence items, the sampled items marked; links open the artifacts.
- `evidence.xlsx`: summary, per-control and per-criterion counts, the full population, and
  samples per control (seed `{meta['seed']}`; the sample-size table is on the Summary sheet).
- `store/`: the evidence exactly as stored: `manifests/` (the hash chain and its
  signatures), `runs/<run>/artifacts/` (one JSON file per collector, account and region),
  `keys/` (the public keys that signed the manifests).
- `package.json`: the period, the signed run range (#{meta['first_sequence']} .. #{meta['last_sequence']}),
  and the SHA-256 of every other file in this package, this README included;
  `package.sig.json` is its signature.

## Verify this package offline

    charter evidence verify --package {name}

This checks the signature of `package.json` and every file's SHA-256 against it (so an
edit of `index.html`, `evidence.xlsx` or this README, an added or a removed file, or a
dropped first or last run is named), recomputes the SHA-256 of every artifact and
manifest, checks that the manifests form an unbroken chain (each names the previous one's
SHA-256, as CloudTrail digest files do) and checks every manifest's signature. It needs no
AWS access. To pin the signing key rather than trust the one in the package, compare the
fingerprint(s)

    {chr(10).join('    ' + k for k in meta['keys']).strip()}

with the one your organization published, and pass `--public-key <that published key>.pem`.

Without Charter: `package.json` lists `files` (`sha256sum <file>`), and its signature file
signs the text `charter-evidence-package:v1:<sha256 of package.json>`. Each
`store/manifests/NNNNNNNN.json` lists `path` and `sha256` of every artifact
(`sha256sum store/<path>`), and `previous.sha256` is `sha256sum` of the manifest before it.
The signature file signs the text `charter-evidence-manifest:v1:<manifest sha256>`
(Ed25519, or ECDSA P-256/SHA-256 for KMS keys) with the key in `store/keys/`.

The last manifest in this package has SHA-256 `{meta['last_manifest_sha256']}`.
"""


__all__ = ["SAMPLE_SIZES", "criteria_titles", "export", "verify_package"]
