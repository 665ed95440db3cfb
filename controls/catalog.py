"""Load and validate the SOC2 criteria and the control catalog; look controls up.

The catalog is `controls/catalog/<family>.yaml` (one file per family) checked against
`controls/criteria.yaml`: unique ids, every criterion a control names exists. Another
package may add a family by dropping a file there (the workloads' WKL family).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from charter.errors import CharterError

from .model import CatalogFile, Control, CriteriaFile, Criterion

HERE = Path(__file__).resolve().parent
CRITERIA_FILE = HERE / "criteria.yaml"
CATALOG_DIR = HERE / "catalog"


class CatalogError(CharterError):
    """The control catalog or the criteria list is invalid."""

    code = "CHARTER-800"
    fix = "Edit the catalog file named in the message; every control needs the fields of controls/model.py."


def _read(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise CatalogError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}",
                           hint="fix the YAML syntax at that line") from None


def _explain(path: Path, raw: object, exc: ValidationError) -> CatalogError:
    """Name the control id (not just a list index) so the author finds the entry."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "controls" and isinstance(loc[1], int) and isinstance(raw, dict):
            try:
                where = f"{raw['controls'][loc[1]].get('id', '?')}: " + ".".join(str(p) for p in loc[2:])
            except (KeyError, IndexError, AttributeError, TypeError):
                pass
        lines.append(f"  {where}: {err['msg']}")
    return CatalogError(f"{path}: {len(lines)} problem(s)\n" + "\n".join(lines),
                        hint="see controls/model.py for the fields and their allowed values")


@dataclass
class Catalog:
    """`controls` is the ordered list (iterate it); `by_id` and `get` look one up."""

    criteria: dict[str, Criterion]
    by_id: dict[str, Control]
    #: control id -> the file that defines it (for messages).
    sources: dict[str, Path] = field(default_factory=dict)
    family_titles: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)

    @property
    def controls(self) -> list[Control]:
        return list(self.by_id.values())

    def __iter__(self) -> Iterator[Control]:
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, control_id: object) -> bool:
        return control_id in self.by_id

    def get(self, control_id: str) -> Control:
        try:
            return self.by_id[control_id]
        except KeyError:
            raise CatalogError(f"unknown control id {control_id!r}",
                               hint="`charter controls` lists every control of the catalog") from None

    def for_criterion(self, criterion_id: str) -> list[Control]:
        if criterion_id not in self.criteria:
            raise CatalogError(f"unknown criterion {criterion_id!r}", hint="criteria look like CC6.1, A1.2, P4.3")
        return [c for c in self.by_id.values() if criterion_id in c.criteria]

    def by_kind(self, kind: str) -> list[Control]:
        return [c for c in self.by_id.values() if c.kind == kind]

    def criteria_for(self, control_ids: list[str]) -> list[str]:
        """The criteria a set of controls serves (an evidence artifact names these)."""
        out = {crit for cid in control_ids for crit in self.get(cid).criteria}
        order = list(self.criteria)
        return sorted(out, key=order.index)


def load_criteria(path: Path = CRITERIA_FILE) -> CriteriaFile:
    raw = _read(path)
    try:
        data = CriteriaFile.model_validate(raw)
    except ValidationError as exc:
        raise _explain(path, raw, exc) from None
    ids = [c.id for c in data.criteria]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise CatalogError(f"{path}: criteria listed twice: {', '.join(dupes)}")
    return data


def load_catalog(catalog_dir: Path = CATALOG_DIR, criteria_path: Path = CRITERIA_FILE) -> Catalog:
    crit = load_criteria(criteria_path)
    cat = Catalog(criteria={c.id: c for c in crit.criteria}, by_id={},
                  categories=dict(crit.categories))
    files = sorted(catalog_dir.glob("*.yaml"))
    if not files:
        raise CatalogError(f"{catalog_dir}: no catalog files (*.yaml)")
    problems: list[str] = []
    for path in files:
        raw = _read(path)
        try:
            fam = CatalogFile.model_validate(raw)
        except ValidationError as exc:
            raise _explain(path, raw, exc) from None
        cat.family_titles[fam.family] = fam.title
        for c in fam.controls:
            if c.id in cat.by_id:
                problems.append(f"  {c.id}: defined in {cat.sources[c.id].name} and again in {path.name}")
                continue
            unknown = [x for x in c.criteria if x not in cat.criteria]
            if unknown:
                problems.append(f"  {path.name}: {c.id}: unknown criteria {', '.join(unknown)}")
            cat.by_id[c.id] = c
            cat.sources[c.id] = path
    if problems:
        raise CatalogError(f"{catalog_dir}: {len(problems)} problem(s)\n" + "\n".join(problems),
                           hint="control ids are unique across families; criteria come from controls/criteria.yaml")
    cat.by_id = dict(sorted(cat.by_id.items(), key=lambda kv: _sort_key(kv[0])))
    return cat


def _sort_key(control_id: str) -> tuple[str, int]:
    family, _, num = control_id.partition("-")
    return family, int(num)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The packaged catalog, loaded once per process."""
    return load_catalog()


def get_control(control_id: str) -> Control:
    """One control of the packaged catalog (evidence collectors look criteria up with it)."""
    return default_catalog().get(control_id)


class UnknownControlError(CatalogError):
    """Code or org.yaml names a control id the catalog does not define."""

    code = "CHARTER-801"
    fix = ("Correct the id to one of the catalog's (`charter controls show ID` shows one), "
           "or add the control to controls/catalog/<family>.yaml.")


def require_known(control_ids: Iterable[str], where: str, what: str) -> None:
    """Raise `UnknownControlError` naming `where` (file:line) and `what` (a builder, a collector
    check, an SCP statement) when any id is not in the packaged catalog. Builders, collectors,
    guardrails and the config loader call this when they load, so a typo never reaches a
    template, an artifact or the matrix."""
    catalog = default_catalog()
    unknown = sorted({c for c in control_ids if c not in catalog})
    if unknown:
        near = {c: _nearest(c, catalog) for c in unknown}
        hint = "; ".join(f"{c}: did you mean {n}?" if n else f"{c}: add it to controls/catalog/"
                         f"{c.split('-')[0].lower()}.yaml" for c, n in near.items())
        raise UnknownControlError(f"{where}: {what} names control id(s) the catalog does not define: "
                                  f"{', '.join(unknown)}", hint=hint)


def _nearest(control_id: str, catalog: Catalog) -> str | None:
    import difflib

    found = difflib.get_close_matches(control_id, list(catalog.by_id), n=1, cutoff=0.8)
    return found[0] if found else None


def code_location(obj: object) -> str:
    """`landing_zone/builders/kms.py:42` for a function or class (for load-time messages)."""
    import inspect

    try:
        path = Path(inspect.getsourcefile(obj) or "?")  # type: ignore[arg-type]
        line = inspect.getsourcelines(obj)[1]  # type: ignore[arg-type]
    except (OSError, TypeError):
        return getattr(obj, "__module__", "?")
    try:
        path = path.relative_to(HERE.parent)
    except ValueError:
        pass
    return f"{path}:{line}"
