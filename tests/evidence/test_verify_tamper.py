"""verify detects every kind of tampering and names the item; bad input is a CharterError (4xx)."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from evstore_helpers import run_artifacts

from charter.evidence.errors import StoreNotFoundError
from charter.evidence.manifest import Manifest, sha256_hex
from charter.evidence.signing import LocalSigner, Signature, load_public_key, public_pem
from charter.evidence.store import EvidenceStore, LocalBackend
from charter.evidence.verify import verify

DAY = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def _fill(root, runs: int = 3) -> tuple[EvidenceStore, LocalSigner]:
    from charter.evidence.manifest import Scope

    store = EvidenceStore(LocalBackend(root))
    signer = LocalSigner.for_directory(root.parent / "key")  # outside the store
    for day in range(runs):
        run = store.open_run(Scope(organization="acme"), resume=False)
        store.add_all(run, run_artifacts(DAY.replace(day=1 + day)))
        store.seal(run, signer)
    return store, signer


@pytest.fixture()
def filled(tmp_path):
    store, signer = _fill(tmp_path / "ev")
    assert verify(store.backend).ok
    return tmp_path / "ev", store, signer


def _artifact_path(store: EvidenceStore, seq: int = 2, index: int = 0) -> str:
    return Manifest.parse(store.backend.get(f"manifests/{seq:08d}.json")).artifacts[index].path


def test_flipped_byte_in_an_artifact_is_named(filled):
    root, store, _ = filled
    path = _artifact_path(store)
    data = bytearray((root / path).read_bytes())
    data[len(data) // 2] ^= 0x01
    (root / path).write_bytes(bytes(data))
    report = verify(store.backend)
    assert not report.ok
    assert report.items("changed") == [path]


def test_deleted_artifact_is_named(filled):
    root, store, _ = filled
    path = _artifact_path(store, 3, 4)
    (root / path).unlink()
    report = verify(store.backend)
    assert [(p.item, p.kind) for p in report.problems] == [(path, "missing")]


def test_swapped_artifacts_are_both_named(filled):
    root, store, _ = filled
    a, b = _artifact_path(store, 1, 0), _artifact_path(store, 1, 1)
    da, db = (root / a).read_bytes(), (root / b).read_bytes()
    (root / a).write_bytes(db)
    (root / b).write_bytes(da)
    assert sorted(verify(store.backend).items("changed")) == sorted([a, b])


def test_artifact_added_to_a_sealed_run_is_named(filled):
    root, store, _ = filled
    run_dir = _artifact_path(store, 2).rsplit("/", 1)[0]
    (root / run_dir / "eu-west-1.json").write_text("{}")
    assert verify(store.backend).items("unlisted") == [f"{run_dir}/eu-west-1.json"]


def test_deleted_manifest_breaks_the_chain(filled):
    root, store, _ = filled
    (root / "manifests/00000002.json").unlink()
    (root / "manifests/00000002.sig.json").unlink()
    report = verify(store.backend)
    assert "manifests/00000002.json" in report.items("missing")
    # the run it sealed is named too: its artifacts are now in no manifest
    run_id = Manifest.parse(store.backend.get("manifests/00000003.json")).previous.run_id
    assert f"runs/{run_id}/" in report.items("missing")


def test_deleted_first_manifest_is_named(filled):
    root, store, _ = filled
    (root / "manifests/00000001.json").unlink()
    assert "manifests/00000001.json" in verify(store.backend).items("missing")


def test_reordered_manifests_are_named(filled):
    root, store, _ = filled
    m2, m3 = root / "manifests/00000002.json", root / "manifests/00000003.json"
    s2, s3 = root / "manifests/00000002.sig.json", root / "manifests/00000003.sig.json"
    d2, d3, g2, g3 = m2.read_bytes(), m3.read_bytes(), s2.read_bytes(), s3.read_bytes()
    m2.write_bytes(d3), m3.write_bytes(d2), s2.write_bytes(g3), s3.write_bytes(g2)
    report = verify(store.backend)
    chain = report.items("chain")
    assert "manifests/00000002.json" in chain and "manifests/00000003.json" in chain


def test_changed_manifest_is_named(filled):
    root, store, _ = filled
    path = root / "manifests/00000002.json"
    m = Manifest.parse(path.read_bytes())
    m.artifacts = m.artifacts[1:]  # hide an artifact
    path.write_bytes(m.to_bytes())
    report = verify(store.backend)
    assert "manifests/00000002.json" in report.items("changed")  # its signature covers other bytes
    assert "manifests/00000003.json" in report.items("chain")  # the next one names other bytes


def _forge(root, seq: int, mutate, signer_key: ed25519.Ed25519PrivateKey | None = None, publish: bool = False):
    """Rewrite manifest `seq` and re-sign it with a key that is not the store's key."""
    path = root / f"manifests/{seq:08d}.json"
    m = Manifest.parse(path.read_bytes())
    mutate(m)
    key = signer_key or ed25519.Ed25519PrivateKey.generate()
    forger = LocalSigner(key)
    if publish:  # also plant the forger's public key in the store and name it in the manifest
        m.key_id = forger.key_id
        (root / f"keys/{forger.key_id}.pem").write_bytes(public_pem(key.public_key()))
    data = m.to_bytes()
    path.write_bytes(data)
    sig = forger.sign(sha256_hex(data))
    if not publish:
        sig = sig.model_copy(update={"key_id": m.key_id})  # pretend the real key signed
    (root / f"manifests/{seq:08d}.sig.json").write_bytes(sig.model_dump_json().encode())
    return m


def test_forged_last_manifest_without_the_key_is_named(filled):
    root, store, _ = filled
    target = _artifact_path(store, 3, 0)
    (root / target).write_bytes(b'{"forged": true}')

    def swap_hash(m):
        m.artifacts[0].sha256 = sha256_hex(b'{"forged": true}')

    _forge(root, 3, swap_hash)
    report = verify(store.backend)
    assert [(p.item, p.kind) for p in report.problems] == [("manifests/00000003.json", "signature")]


def test_forged_manifest_with_a_planted_key_is_named(filled):
    root, store, signer = filled

    def drop(m):
        m.artifacts = m.artifacts[:-1]

    _forge(root, 3, drop, publish=True)
    # without a pinned key: a new key in the middle of the chain is a finding
    assert verify(store.backend).items("key") == ["manifests/00000003.json"]
    # with the trusted key pinned: named as signed by an untrusted key
    trusted = load_public_key(signer.public_key_pem(), "trusted.pem")
    assert verify(store.backend, trusted_keys=[trusted]).items("key") == ["manifests/00000003.json"]


def test_replaced_public_key_file_is_named(filled):
    root, store, signer = filled
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    (root / f"keys/{signer.key_id}.pem").write_bytes(public_pem(other))
    assert verify(store.backend).items("key") == [f"keys/{signer.key_id}.pem"] * 3


def test_replaced_signature_is_named(filled):
    root, store, _ = filled
    path = root / "manifests/00000001.sig.json"
    sig = Signature.model_validate_json(path.read_bytes())
    bad = base64.b64encode(bytes(64)).decode()
    path.write_text(sig.model_copy(update={"signature": bad}).model_dump_json())
    assert verify(store.backend).items("signature") == ["manifests/00000001.json"]


def test_missing_signature_is_named(filled):
    root, store, _ = filled
    (root / "manifests/00000002.sig.json").unlink()
    assert verify(store.backend).items("missing") == ["manifests/00000002.sig.json"]


def test_open_run_is_a_warning_not_a_failure(filled):
    from charter.evidence.manifest import Scope

    _, store, _ = filled
    run = store.open_run(Scope(organization="acme", regions=["us-east-1"]))
    store.add_all(run, run_artifacts(DAY)[:2])
    report = verify(store.backend)
    assert report.ok and any(run.run_id in w for w in report.warnings)


# -- bad input --------------------------------------------------------------------------

def test_verify_of_a_missing_directory_is_a_charter_error(tmp_path):
    from charter.evidence.store import open_backend

    with pytest.raises(StoreNotFoundError) as exc:
        open_backend(tmp_path / "nope", must_exist=True)
    assert exc.value.code == "CHARTER-401" and "nope" in exc.value.message and exc.value.hint


def test_verify_of_an_empty_directory_is_a_charter_error(tmp_path):
    with pytest.raises(StoreNotFoundError, match="holds no evidence"):
        verify(LocalBackend(tmp_path))


def test_a_pinned_key_that_signed_nothing_names_every_manifest(filled):
    _, store, _ = filled
    stranger = ed25519.Ed25519PrivateKey.generate().public_key()
    report = verify(store.backend, trusted_keys=[stranger])
    assert report.items("key") == [f"manifests/{n:08d}.json" for n in (1, 2, 3)]
    assert "not by the pinned key" in report.problems[0].detail


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    from charter.cli import main

    monkeypatch.setattr(sys, "argv", ["charter", "evidence", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    return exc.value.code, " ".join((out.out + out.err).split())  # rich wraps at the terminal width


def test_cli_verify_ok_and_failing(monkeypatch, capsys, filled):
    root, store, _ = filled
    code, text = _cli(monkeypatch, capsys, "verify", str(root))
    assert code in (0, None) and "verified" in text and "3 manifests" in text
    path = _artifact_path(store, 1, 2)
    (root / path).write_bytes(b"x")
    code, text = _cli(monkeypatch, capsys, "verify", str(root))
    assert code == 1 and "FAILED" in text and path.split("/")[-1] in text


@pytest.mark.parametrize("case", ["missing-dir", "corrupt-zip", "not-a-key", "private-key"])
def test_cli_bad_input_exits_2_without_traceback(monkeypatch, capsys, tmp_path, filled, case):
    root, _, signer = filled
    if case == "missing-dir":
        args, code_expected = ["verify", str(tmp_path / "does-not-exist")], "CHARTER-401"
    elif case == "corrupt-zip":
        bad = tmp_path / "pkg.zip"
        bad.write_bytes(b"PK\x03\x04 this is not really a zip")
        args, code_expected = ["verify", "--package", str(bad)], "CHARTER-403"
    elif case == "not-a-key":
        key = tmp_path / "key.pem"
        key.write_text("hello")
        args, code_expected = ["verify", str(root), "--public-key", str(key)], "CHARTER-404"
    else:
        args = ["verify", str(root), "--public-key", str(root.parent / "key" / "ed25519-private.pem")]
        code_expected = "CHARTER-404"
    code, text = _cli(monkeypatch, capsys, *args)
    assert code == 2, text
    assert "Traceback" not in text
    assert "fix:" in text
    from charter.evidence import errors

    classes = {c.code for c in vars(errors).values() if isinstance(c, type) and hasattr(c, "code")}
    assert code_expected in classes


def test_cli_verify_with_pinned_key_passes(monkeypatch, capsys, filled):
    root, _, signer = filled
    code, text = _cli(monkeypatch, capsys, "verify", str(root), "--public-key", str(root / f"keys/{signer.key_id}.pem"))
    assert code in (0, None) and "verified" in text and "pin it" not in text


def test_error_codes_are_unique_and_in_the_evidence_range():
    from charter.errors import all_error_classes

    ours = [c for c in all_error_classes() if c.__module__ == "charter.evidence.errors"]
    codes = [c.code for c in ours]
    assert len(codes) == len(set(codes)) >= 8
    assert all(400 <= int(c.split("-")[1]) < 500 for c in codes)
    json.dumps(codes)
