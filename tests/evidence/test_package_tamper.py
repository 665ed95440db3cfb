"""Every byte an auditor reads is covered by a signature: each way of tampering with an export
package or a local store is detected, named, and exits 1 (never 2, never a traceback)."""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
import seeded_package as seed

from charter.evidence.export import verify_package
from charter.evidence.manifest import Manifest, canonical, sha256_hex
from charter.evidence.signing import LocalSigner, PackageSignature, public_pem, sign_package
from charter.evidence.store import LocalBackend
from charter.evidence.verify import verify


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return seed.build_package(tmp_path_factory.mktemp("tamper"))


def _rezip(src: Path, dst: Path, *, drop=(), replace=None, add=None) -> Path:
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            name = info.filename
            if any(name == d or (d.endswith("/") and name.startswith(d)) for d in drop):
                continue
            data = zin.read(name)
            if name in replace:
                data = replace[name](data) if callable(replace[name]) else replace[name]
            zout.writestr(name, data)
        for name, data in add.items():
            zout.writestr(name, data)
    return dst


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    from charter.cli import main

    monkeypatch.setattr(sys, "argv", ["charter", "evidence", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    return exc.value.code, out.out + out.err


def _members(package) -> list[str]:
    return zipfile.ZipFile(package.path).namelist()


def _run_members(package, sequence: int) -> list[str]:
    meta = json.loads(zipfile.ZipFile(package.path).read("package.json"))
    run = next(r for r in meta["runs"] if r["sequence"] == sequence)
    return [f"store/manifests/{sequence:08d}.json", f"store/manifests/{sequence:08d}.sig.json",
            f"store/runs/{run['run_id']}/"]


def _edit_xlsx(data: bytes) -> bytes:
    """Change one cell's text inside the workbook (a valid xlsx, different bytes)."""
    import io

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data))
    wb["Controls"]["G2"] = 0  # a failure count turned into zero
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


CASES = {
    # name: (how to tamper, expected (item, kind) among the problems)
    "index.html fail->pass": (dict(replace={"index.html": lambda d: d.replace(b"3</b><span>failed", b"0</b><span>failed")}),
                              ("index.html", "changed")),
    "evidence.xlsx edited": (dict(replace={"evidence.xlsx": _edit_xlsx}), ("evidence.xlsx", "changed")),
    "README.md edited": (dict(replace={"README.md": lambda d: d.replace(b"Verify", b"Trust")}), ("README.md", "changed")),
    "file added": (dict(add={"notes.html": b"<p>all controls pass</p>"}), ("notes.html", "unlisted")),
    "hidden file added to a run": (dict(add={"store/runs/x/artifacts/.extra.json": b"{}"}),
                                   ("store/runs/x/artifacts/.extra.json", "unlisted")),
    "file removed": (dict(drop=["evidence.xlsx"]), ("evidence.xlsx", "missing")),
    "signature removed": (dict(drop=["package.sig.json"]), ("package.sig.json", "missing")),
    "package.json edited": (dict(replace={"package.json": lambda d: d.replace(b'"seed-1"', b'"seed-2"')}),
                            ("package.json", "changed")),
    "package.json not JSON": (dict(replace={"package.json": b"{not json"}), ("package.json", "unreadable")),
    "package.json a list": (dict(replace={"package.json": b"[]"}), ("package.json", "unreadable")),
    "package.json runs a string": (dict(replace={"package.json": b'{"runs": "x", "files": 3}'}),
                                   ("package.json", "unreadable")),
    "package.json removed": (dict(drop=["package.json"]), ("package.json", "missing")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampered_package_is_named_and_exits_1(package, tmp_path, monkeypatch, capsys, case):
    how, (item, kind) = CASES[case]
    bad = _rezip(package.path, tmp_path / "bad.zip", **how)
    report = verify_package(bad)
    assert (item, kind) in [(p.item, p.kind) for p in report.problems], report.problems
    code, text = _cli(monkeypatch, capsys, "verify", "--package", str(bad))
    assert code == 1 and "Traceback" not in text
    assert f"FAIL {item}: {kind}" in text


@pytest.mark.parametrize("which", ["first", "last"])
def test_dropping_the_first_or_last_run_is_named(package, tmp_path, monkeypatch, capsys, which):
    seq = 1 if which == "first" else 2
    bad = _rezip(package.path, tmp_path / "bad.zip", drop=_run_members(package, seq))
    report = verify_package(bad)
    problem = next(p for p in report.problems if p.item == f"store/manifests/{seq:08d}.json")
    assert problem.kind == "missing" and f"the {which} run" in problem.detail and "dropped" in problem.detail
    code, text = _cli(monkeypatch, capsys, "verify", "--package", str(bad))
    assert code == 1 and f"the {which} run" in text


def test_dropping_a_run_and_rewriting_package_json_breaks_its_signature(package, tmp_path):
    """The run range cannot be shrunk without the key: package.json is signed."""
    def shrink(data: bytes) -> bytes:
        meta = json.loads(data)
        meta["runs"] = meta["runs"][:1]
        meta["last_sequence"] = 1
        meta["files"] = {k: v for k, v in meta["files"].items() if not k.startswith(tuple(_run_members(package, 2)))}
        return json.dumps(meta, indent=2, sort_keys=True).encode()

    bad = _rezip(package.path, tmp_path / "bad.zip", drop=_run_members(package, 2), replace={"package.json": shrink})
    report = verify_package(bad)
    assert ("package.json", "changed") in [(p.item, p.kind) for p in report.problems]


def test_package_re_signed_by_another_key_is_named(package, tmp_path):
    stranger = LocalSigner.for_directory(tmp_path / "stranger")

    def forged(data: bytes) -> bytes:
        return data.replace(b"3</b><span>failed", b"0</b><span>failed")

    with zipfile.ZipFile(package.path) as zf:
        meta = json.loads(zf.read("package.json"))
        meta["files"]["index.html"] = sha256_hex(forged(zf.read("index.html")))
    body = json.dumps(meta, indent=2, sort_keys=True).encode()
    sig = sign_package(stranger, sha256_hex(body)).model_dump_json().encode()
    bad = _rezip(package.path, tmp_path / "bad.zip", add={f"store/keys/{stranger.key_id}.pem":
                                                          public_pem(stranger._key.public_key())},
                 replace={"index.html": forged, "package.json": body, "package.sig.json": sig})
    report = verify_package(bad)
    assert ("package.sig.json", "key") in [(p.item, p.kind) for p in report.problems]
    # and with the organization's key pinned, it is named the same way
    pinned = verify_package(bad, trusted_keys=[_store_key(package)])
    assert ("package.sig.json", "key") in [(p.item, p.kind) for p in pinned.problems]


def _store_key(package):
    from charter.evidence.signing import load_public_key

    with zipfile.ZipFile(package.path) as zf:
        name = next(n for n in zf.namelist() if n.startswith("store/keys/"))
        return load_public_key(zf.read(name), name)


def test_a_package_signature_cannot_stand_in_for_a_manifest_signature(package):
    """Domain separation: a package signature over some hash is not a manifest signature."""
    from charter.evidence.signing import Signature, verify_signature

    with zipfile.ZipFile(package.path) as zf:
        psig = PackageSignature.model_validate_json(zf.read("package.sig.json"))
    as_manifest = Signature(manifest_sha256=psig.package_sha256, key_id=psig.key_id, algorithm=psig.algorithm,
                            signature=psig.signature)
    key = _store_key(package)
    assert verify_signature(key, psig) and not verify_signature(key, as_manifest)


def test_untouched_package_verifies(package, monkeypatch, capsys):
    assert verify_package(package.path).ok
    code, text = _cli(monkeypatch, capsys, "verify", "--package", str(package.path))
    assert code in (0, None) and "verified" in text


# -- the local store -------------------------------------------------------------------------

@pytest.fixture()
def store(tmp_path) -> tuple[Path, LocalSigner]:
    signer = seed.build_store(tmp_path / "evidence", tmp_path / "key")
    assert verify(LocalBackend(tmp_path / "evidence")).ok
    return tmp_path / "evidence", signer


def _run_ids(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "runs").iterdir())


def test_edited_run_json_is_named(store, monkeypatch, capsys):
    root, _ = store
    record = root / "runs" / _run_ids(root)[0] / "run.json"
    record.write_bytes(record.read_bytes().replace(b'"acme"', b'"acmf"'))
    report = verify(LocalBackend(root))
    assert [(p.item, p.kind) for p in report.problems] == [(str(record.relative_to(root)), "changed")]
    code, text = _cli(monkeypatch, capsys, "verify", str(root))
    assert code == 1 and "run.json: changed" in text


def test_edited_sealed_json_is_named(store):
    root, _ = store
    marker = root / "runs" / _run_ids(root)[1] / "sealed.json"
    marker.write_bytes(canonical({"sequence": 7, "manifest_sha256": "0" * 64}))
    report = verify(LocalBackend(root))
    assert [(p.item, p.kind) for p in report.problems] == [(str(marker.relative_to(root)), "changed")]


@pytest.mark.parametrize("name", [".hidden.json", ".DS_Store", "artifacts/.x/us-east-1.json"])
def test_hidden_file_added_to_a_sealed_run_is_named(store, monkeypatch, capsys, name):
    root, _ = store
    extra = root / "runs" / _run_ids(root)[0] / name
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_bytes(b'{"kind": "evidence"}')
    report = verify(LocalBackend(root))
    assert [(p.item, p.kind) for p in report.problems] == [(str(extra.relative_to(root)), "unlisted")]
    code, text = _cli(monkeypatch, capsys, "verify", str(root))
    assert code == 1 and name.rsplit("/", 1)[-1] in text


def test_a_store_re_signed_with_a_new_key_fails_against_the_pinned_original(store, tmp_path, monkeypatch, capsys):
    """Someone who can write the store (but not read the key, which lives outside it) edits an
    artifact and re-signs the whole chain with a key of their own. Without a pin that cannot be
    told from a store that was always theirs; with the original public key pinned it is named."""
    root, signer = store
    original_pem = tmp_path / "original.pem"
    original_pem.write_bytes(signer.public_key_pem())
    forger = LocalSigner.for_directory(tmp_path / "forger")
    backend = LocalBackend(root)
    previous = None
    for path in sorted(p for p in backend.list("manifests/") if not p.endswith(".sig.json")):
        manifest = Manifest.parse(backend.get(path))
        if manifest.sequence == 1:  # the tampering: a failure made a pass
            entry = manifest.artifacts[0]
            target = root / entry.path
            target.write_bytes(target.read_bytes().replace(b'"fail"', b'"pass"'))
            entry.sha256 = sha256_hex(target.read_bytes())
        manifest.key_id = forger.key_id
        if previous is not None:
            manifest.previous.sha256 = previous
        data = manifest.to_bytes()
        (root / path).write_bytes(data)
        (root / path.replace(".json", ".sig.json")).write_bytes(forger.sign(sha256_hex(data)).model_dump_json().encode())
        (root / "runs" / manifest.run_id / "sealed.json").write_bytes(
            canonical({"sequence": manifest.sequence, "manifest_sha256": sha256_hex(data)}))
        previous = sha256_hex(data)
    shutil.rmtree(root / "keys")
    backend.put(f"keys/{forger.key_id}.pem", forger.public_key_pem())
    assert verify(backend).ok  # the limit of an unpinned check, as with any signature scheme
    code, text = _cli(monkeypatch, capsys, "verify", str(root), "--public-key", str(original_pem))
    assert code == 1 and "Traceback" not in text
    assert "FAIL manifests/00000001.json: key" in text and "FAIL manifests/00000002.json: key" in text
    assert "not by the pinned key" in text
