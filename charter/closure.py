"""What a set of Charter modules imports: the first-party files to ship and the third-party
modules they need, for every artifact that ships Charter code somewhere else (Lambda zips).

Found by following imports from entry modules with the standard library's `modulefinder`,
which reads bytecode, so imports inside functions count too, and resolves relative imports
and packages as the import system does. Only the packages named as shipped are followed; an
import of any other Charter package is an error (it would not be in the artifact), so an
artifact holds exactly what its code reaches and nothing that could hide a missing module.
"""

from __future__ import annotations

import modulefinder
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from charter import source
from charter.errors import CharterError


class ClosureError(CharterError):
    """The entry modules cannot be followed, or reach a Charter package that is not shipped."""

    code = "CHARTER-720"
    fix = "Read the message: it names the module; move what it needs into a shipped package or ship that package."


@dataclass(frozen=True)
class Closure:
    """What the entry modules import: the first-party files to ship and the third-party modules."""

    files: dict[str, Path]  # installed arcname (charter/evidence/...) -> file
    third_party: frozenset[str]  # dotted module names, e.g. scipy.optimize

    @property
    def third_party_top(self) -> frozenset[str]:
        return frozenset(m.split(".", 1)[0] for m in self.third_party)


class _Finder(modulefinder.ModuleFinder):
    """Follows imports only into the shipped packages; everything else (stdlib, third party,
    other Charter packages) is recorded as missing, which is how it is classified.
    `charter`'s sub-packages may sit beside it (an editable install), so its search path is
    `charter_path`, not the folder of its `__init__.py`."""

    def __init__(self, charter_path: list[str], shipped: Sequence[str]) -> None:
        super().__init__(path=[str(Path(charter_path[0]).parent)])
        self._charter_path = charter_path
        self._shipped = set(shipped)

    def shipped(self, fullname: str) -> bool:
        """In a shipped package, or a parent of one (whose `__init__` the import system runs)."""
        return fullname == "charter" or any(fullname == s or fullname.startswith(s + ".") or s.startswith(fullname + ".")
                                            for s in self._shipped)

    def find_module(self, name, path, parent=None):  # ModuleFinder's signature
        if name == "__init__" and parent is None:  # load_package reading a package's own __init__
            return super().find_module(name, path, parent)
        fullname = f"{parent.__name__}.{name}" if parent is not None else name
        if not self.shipped(fullname):
            raise ImportError(f"not shipped: {fullname}")
        return super().find_module(name, path, parent)

    def load_package(self, fqname, pathname):
        m = super().load_package(fqname, pathname)
        if fqname == "charter":
            m.__path__ = list(self._charter_path)
        return m


def closure(modules: Sequence[str], shipped: Sequence[str], *, root: Path | None = None,
            error: type[CharterError] = ClosureError) -> Closure:
    """The files (by installed arcname) and third-party modules reached from `modules`,
    following only `shipped` packages. `root` is a tree in the installed layout
    (`root/charter/...`); by default the installed Charter, wherever its folders are.
    Failures are raised as `error` (the caller's own error type)."""
    charter_path = [str(Path(root) / "charter")] if root is not None else source.search_path()
    finder = _Finder(charter_path, shipped)
    for name in modules:
        try:
            finder.import_hook(name)
        except ImportError:
            raise error(f"module {name} not found under {', '.join(charter_path)}",
                        hint="fix the handler or entry module name") from None
        except SyntaxError as exc:
            raise error(f"{exc.filename}:{exc.lineno}: {exc.msg}", hint="fix the syntax error") from None
    files: dict[str, Path] = {}
    for mod in finder.modules.values():
        if mod.__file__:
            files[source.module_arcname(mod.__name__, mod.__path__ is not None)] = Path(mod.__file__).resolve()
    missing, _maybe = finder.any_missing_maybe()
    stdlib = sys.stdlib_module_names
    third: set[str] = set()
    for name in missing:
        top = name.split(".", 1)[0]
        if top in stdlib:
            continue
        if top == "charter":
            importers = ", ".join(sorted(k for k in finder.badmodules.get(name, {}) if k != "-")) or modules[0]
            raise error(f"{importers} imports {name}, a Charter package its Lambda artifacts do not ship "
                        f"(only {', '.join(shipped)})",
                        hint="pass the data it needs instead of importing it, or ship that package")
        third.add(name)
    return Closure(files=files, third_party=frozenset(third))


def package_modules(dotted: str) -> list[str]:
    """Every module of a Charter package (for packages whose modules are found at runtime,
    e.g. the evidence collectors, which `modulefinder` cannot see being imported)."""
    root = source.package_dir(dotted)
    out = [dotted]
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if parts and "__pycache__" not in rel.parts:
            out.append(".".join([dotted, *parts]))
    return out
