"""The local-directory evidence store: write once, resume, seal into a signed chain, verify."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime

import pytest
from evstore_helpers import artifact, run_artifacts

from charter.evidence.continuous import collect_to_store
from charter.evidence.errors import EmptyOrganizationError, StoreWriteError
from charter.evidence.manifest import Manifest, Scope, sha256_hex
from charter.evidence.signing import LocalSigner
from charter.evidence.store import AlreadyStored, EvidenceStore, LocalBackend
from charter.evidence.verify import verify
from charter.landing_zone.config import load_config

DAY = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


@pytest.fixture()
def store(tmp_path):
    return EvidenceStore(LocalBackend(tmp_path / "evidence"))


@pytest.fixture()
def signer(tmp_path):
    return LocalSigner.for_directory(tmp_path / "keys")  # outside the store, where signer_for keeps it


def test_store_seal_verify_roundtrip(store, signer):
    for day in range(3):
        run = store.open_run(Scope(organization="acme"), resume=False)
        assert store.add_all(run, run_artifacts(DAY.replace(day=1 + day))) == 13
        manifest = store.seal(run, signer)
        assert manifest.sequence == day + 1
    report = verify(store.backend)
    assert report.ok, report.problems
    assert (report.manifests, report.artifacts) == (3, 39)
    manifests = store.manifests()
    # each manifest names the previous one's stored bytes, like CloudTrail digests
    for prev, cur in zip(manifests, manifests[1:], strict=False):
        assert cur.previous.sha256 == prev.sha256
        assert cur.previous.run_id == prev.run_id
    assert manifests[0].previous is None
    # stored bytes are canonical JSON: the stored file hashes to the manifest's hash
    raw = store.backend.get("manifests/00000002.json")
    assert sha256_hex(raw) == manifests[1].sha256 == Manifest.parse(raw).sha256
    head, head_sha = store.head()
    assert head.sequence == 3 and head_sha == manifests[2].sha256


def test_artifact_files_are_canonical_json_with_their_hash(store, signer):
    run = store.open_run(Scope(organization="acme"))
    a = artifact("iam", "111111111111", "us-east-1", DAY)
    path = store.add(run, a)
    manifest = store.seal(run, signer)
    entry = next(e for e in manifest.artifacts if e.path == path)
    assert entry.sha256 == a.sha256
    assert (entry.results.passed, entry.results.failed) == (2, 1)
    assert json.loads(store.backend.get(path))["collector"] == "iam"


def test_private_key_lives_outside_the_store_and_only_the_public_key_is_exported(tmp_path, monkeypatch):
    from charter.evidence.errors import SigningKeyError
    from charter.evidence.signing import signer_for

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CHARTER_KEY_DIR")
    backend = LocalBackend(tmp_path / "evidence")
    store = EvidenceStore(backend)
    signer = signer_for(str(backend.root), backend, None, None, None)
    run = store.open_run(Scope(organization="acme"))
    store.add(run, artifact())
    store.seal(run, signer)
    # the user's config directory, never the store: whoever can write the store cannot re-sign it
    key_file = tmp_path / "config" / "charter" / "keys" / "ed25519-private.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert store.backend.list("keys/") == [f"keys/{signer.key_id}.pem"]
    assert not any("PRIVATE" in store.backend.get(p).decode(errors="replace") for p in store.backend.list())
    # the key is reused, not regenerated
    assert signer_for(str(backend.root), backend, None, None, None).key_id == signer.key_id
    # --key names another file; a key inside the store is refused
    other = signer_for(str(backend.root), backend, None, None, None, key_file=tmp_path / "k" / "mine.pem")
    assert other.key_id != signer.key_id and (tmp_path / "k" / "mine.pem").is_file()
    with pytest.raises(SigningKeyError, match="inside the evidence store"):
        signer_for(str(backend.root), backend, None, None, None, key_file=backend.root / "keys" / "x.pem")
    # a store from before the key moved out: refused, with the command that moves the key
    legacy = backend.root / ".signing" / "ed25519-private.pem"
    legacy.parent.mkdir()
    legacy.write_bytes(key_file.read_bytes())
    with pytest.raises(SigningKeyError) as exc:
        signer_for(str(backend.root), backend, None, None, None)
    assert "mv " in exc.value.hint and str(legacy) in exc.value.hint
    assert any(".signing" in w for w in verify(backend).warnings)


def test_store_is_write_once(store):
    store.backend.put("runs/x/a.json", b"one")
    store.backend.put("runs/x/a.json", b"one")  # same bytes: idempotent
    with pytest.raises(AlreadyStored):
        store.backend.put("runs/x/a.json", b"two")
    assert store.backend.get("runs/x/a.json") == b"one"


def test_interrupted_run_resumes_without_storing_twice(store, signer):
    scope = Scope(organization="acme")
    first = run_artifacts(DAY)
    run = store.open_run(scope)
    store.add_all(run, first[:5])  # ... then the process dies before sealing
    assert store.open_runs() == [run.run_id]

    again = store.open_run(scope)
    assert again.resumed and again.run_id == run.run_id
    assert len(again.done) == 5
    # a second pass yields everything again (collected later): the first 5 are not stored again
    later = run_artifacts(DAY.replace(hour=7))
    stored = [store.add(again, a) for a in later]
    assert stored.count(None) == 5
    manifest = store.seal(again, signer)
    assert len(manifest.artifacts) == 13
    assert store.open_runs() == []
    # a different scope never resumes someone else's run
    other = store.open_run(Scope(organization="acme", regions=["us-east-1"]))
    assert not other.resumed and other.run_id != run.run_id


def test_several_artifacts_for_one_account_region_are_all_kept(store, signer):
    run = store.open_run(Scope(organization="acme"))
    a1 = artifact("iam", when=DAY, n=2)
    a2 = artifact("iam", when=DAY, n=5)
    p1, p2 = store.add(run, a1), store.add(run, a2)
    assert p1 != p2
    assert len(store.seal(run, signer).artifacts) == 2


def test_collect_to_store_streams_collect_all_and_seals(tmp_path, store, signer):
    cfg = load_config("examples/small/org.yaml")
    calls = []

    def collect_all(sessions, cfg, accounts=None, *, regions=None, collectors=None, max_workers=16, progress=None):
        calls.append((accounts, regions, collectors))
        items = run_artifacts(DAY)
        for i, a in enumerate(items, 1):
            if progress:
                progress(i, len(items), a)
            yield a

    seen = []
    result = collect_to_store(store, None, cfg, signer, regions=["us-east-1"], collect=collect_all,
                              progress=lambda done, total, a: seen.append((done, total)))
    assert result.sealed and result.stored == 13 and len(result.gaps) == 1
    assert calls == [(None, ["us-east-1"], None)]
    assert seen[-1] == (13, 13)
    assert verify(store.backend).ok


def test_collect_to_store_leaves_run_open_when_time_runs_out_and_resumes(store, signer):
    cfg = load_config("examples/small/org.yaml")

    def collect_all(sessions, cfg, accounts=None, *, regions=None, collectors=None, progress=None):
        yield from run_artifacts(DAY)

    first = collect_to_store(store, None, cfg, signer, collect=collect_all, deadline=0.0)
    assert not first.sealed and first.stored == 1
    second = collect_to_store(store, None, cfg, signer, collect=collect_all)
    assert second.sealed and second.run.run_id == first.run.run_id
    assert second.skipped == 1 and len(second.manifest.artifacts) == 13


def test_nothing_collected_is_an_error_not_an_empty_manifest(store, signer):
    cfg = load_config("examples/small/org.yaml")

    def collect_all(sessions, cfg, accounts=None, **kw):
        return iter(())

    with pytest.raises(EmptyOrganizationError) as exc:
        collect_to_store(store, None, cfg, signer, collect=collect_all)
    assert exc.value.code == "CHARTER-406" and "deployed" in exc.value.hint
    assert store.manifest_paths() == []


def test_store_refuses_path_escape(store):
    with pytest.raises(StoreWriteError):
        store.backend.put("../outside.json", b"x")


def test_resumed_run_tells_collect_all_what_to_skip_when_it_can(store, signer):
    cfg = load_config("examples/small/org.yaml")
    asked = []

    def collect_all(sessions, cfg, accounts=None, *, regions=None, collectors=None, progress=None, skip=None):
        asked.append(skip)
        for a in run_artifacts(DAY):
            if skip and (a.collector, a.account_id, a.region) in skip:
                continue
            yield a

    first = collect_to_store(store, None, cfg, signer, collect=collect_all, deadline=0.0)
    second = collect_to_store(store, None, cfg, signer, collect=collect_all)
    assert asked[0] is None and asked[1] == {("iam", "111111111111", "us-east-1")}
    assert second.skipped == 0 and second.stored == 12 and len(second.manifest.artifacts) == 13
    assert second.run.run_id == first.run.run_id
