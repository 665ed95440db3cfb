"""Code assets (`StackSpec.facts["assets"]`): a Lambda whose code CloudFormation reads from S3.

Before the stack that declares them, deploy builds each asset's zip, stores it in the
asset bucket of the stack's account and region (created when missing: private, encrypted,
versioned, TLS only) under a content-addressed key, and passes that key as the stack's
parameter (`asset["parameter"]`). Same code -> same key: a deploy with no code change only
reads (GetBucketLocation, ListObjectsV2); changed code -> a new key -> the stack updates
its function.

The zip holds exactly what the function's code imports (`charter.closure`: the import
closure of its entry modules, following only the packages the asset ships, so a module
that imports anything else fails the build, not the Lambda), Charter's version (so the
artifacts it writes say which Charter made them), the data the builder asks for
(`asset["data"]`: the validated config as `org.json` and what the landing zone decides
for the collectors, `evidence-sources.json`), and the third-party packages the Lambda
runtime lacks (`asset["requirements"]`), installed by pip for the function's runtime
(Linux x86_64 wheels) and cached under `<out>/.charter/assets/`. Where the AWS behind the
session factory supplies third-party packages itself (the embedded AWS's capability
`lambda_third_party == "host"`), they are left out and a note says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import botocore.exceptions

from charter import __version__ as CHARTER_VERSION
from charter.aws import error_code
from charter.closure import Closure, closure, package_modules
from charter.config.model import OrgConfig

from .errors import AssetError
from .run import Change, Run
from .templates import Template

#: What every Lambda Python runtime provides besides the standard library.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore"})
#: Needed at runtime although no module imports it by name.
IMPLICIT = {"email_validator": "pydantic's EmailStr (account emails in the config) validates with it"}
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same files always make the same zip


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _files(root: Path, prefix: str = "") -> list[tuple[str, Path]]:
    return sorted((prefix + p.relative_to(root).as_posix(), p) for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))


def asset_closure(asset: dict[str, Any]) -> Closure:
    """The first-party files and third-party modules of an asset's code: the import closure of
    its handler's module, its `entry` modules and every module of its `entry_packages` (found
    at runtime, e.g. the evidence collectors), following only its `shipped` packages."""
    modules = [str(asset["handler"]).rpartition(".")[0], *asset.get("entry", [])]
    for package in asset.get("entry_packages", []):
        modules += package_modules(package)
    return closure(list(dict.fromkeys(modules)), tuple(asset["shipped"]), error=AssetError)


def _top(requirement: str) -> str:
    """The import name a requirement provides (`ruamel.yaml` -> ruamel, `email-validator` -> email_validator)."""
    name = requirement.split(";")[0].split("[")[0]
    for sep in ("<", ">", "=", "!", "~", " "):
        name = name.split(sep)[0]
    return name.strip().replace("-", "_").split(".")[0].lower()


def check_requirements(asset: dict[str, Any], cl: Closure) -> None:
    """Every third-party module the code imports is provided: by the runtime or the asset's
    requirements (matched by import name or through the distribution that installs it, e.g.
    `yaml` from PyYAML). A module missing here would be an ImportError in the Lambda."""
    from importlib.metadata import packages_distributions

    required = {_top(r) for r in asset.get("requirements", [])}
    installs = packages_distributions()

    def provided(module: str) -> bool:
        dists = {d.replace("-", "_").replace(".", "_").lower() for d in installs.get(module, [])}
        return module in RUNTIME_PROVIDED or module in required or bool(dists & required)

    missing = sorted(m for m in cl.third_party_top | set(IMPLICIT) if not provided(m))
    if missing:
        raise AssetError(f"assets: {asset['handler']} imports {', '.join(missing)}, which neither the Lambda "
                         "runtime nor the asset's requirements provide",
                         hint="add the distribution to the asset's `requirements` in its builder")


def vendored(run: Run, asset: dict[str, Any]) -> Path | None:
    """The requirements installed for the Lambda runtime, cached; None where the AWS behind
    the session factory supplies third-party packages itself (`lambda_third_party == "host"`)."""
    if run.sessions is not None and run.sessions.capabilities.lambda_third_party == "host":
        return None
    requirements = list(asset.get("requirements", []))
    if not requirements:
        return None
    runtime = str(asset.get("runtime", "python3.12")).removeprefix("python")
    key = hashlib.sha256(json.dumps([runtime, requirements]).encode()).hexdigest()[:12]
    target = Path(run.out_dir) / ".charter" / "assets" / f"deps-{key}"
    if (target / ".complete").exists():
        return target
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "--only-binary=:all:",
           "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", runtime,
           *requirements]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssetError(f"assets: pip could not install {', '.join(requirements)} for Lambda "
                         f"python{runtime}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}",
                         hint="check access to PyPI (or a mirror via PIP_INDEX_URL) and re-run deploy")
    (target / ".complete").write_text("ok\n")
    return target


def asset_data(cfg: OrgConfig, asset: dict[str, Any]) -> dict[str, bytes]:
    """The data files the builder asks for, by name at the zip's root."""
    out: dict[str, bytes] = {}
    for name, kind in sorted((asset.get("data") or {}).items()):
        if kind == "config":
            out[name] = cfg.model_dump_json(by_alias=True, indent=1).encode()
        elif kind == "evidence-sources":
            from charter.landing_zone.scp.expected import evidence_sources

            out[name] = json.dumps(evidence_sources(cfg), indent=1, sort_keys=True).encode()
        else:
            raise AssetError(f"assets: {asset['handler']}: unknown data kind {kind!r} for {name}",
                             hint="use 'config' or 'evidence-sources' in the builder's asset `data`")
    return out


def package_data(asset: dict[str, Any]) -> list[tuple[str, Path]]:
    """Data files of shipped packages the code reads beside its modules (`asset["package_data"]`:
    package -> glob patterns, e.g. the control catalog's YAML), at their installed paths."""
    from fnmatch import fnmatch

    from charter import source

    out = []
    for package, patterns in sorted((asset.get("package_data") or {}).items()):
        prefix = package.replace(".", "/") + "/"
        found = [(name, path) for name, path in source.files(package)
                 if any(fnmatch(name.removeprefix(prefix), pattern) for pattern in patterns)]
        if not found:
            raise AssetError(f"assets: {asset['handler']}: no file of {package} matches {', '.join(patterns)}",
                             hint="fix the builder's asset `package_data`")
        out += found
    return out


def package_zip(cfg: OrgConfig, asset: dict[str, Any], deps: Path | None = None) -> bytes:
    """The asset's zip: its import closure, Charter's version, its data and `deps` (the
    requirements installed for the runtime, when the artifact must carry them)."""
    cl = asset_closure(asset)
    check_requirements(asset, cl)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, path in sorted(cl.files.items()):
            _add(zf, name, path.read_bytes())
        # importlib.metadata finds Charter's version here (artifacts record it)
        _add(zf, f"charter-{CHARTER_VERSION}.dist-info/METADATA",
             f"Metadata-Version: 2.1\nName: charter\nVersion: {CHARTER_VERSION}\n".encode())
        for name, data in asset_data(cfg, asset).items():
            _add(zf, name, data)
        for name, path in package_data(asset):
            _add(zf, name, path.read_bytes())
        if deps is not None:
            for name, path in _files(deps):
                if not name.startswith(".complete"):
                    _add(zf, name, path.read_bytes())
    return buf.getvalue()


def build_zip(run: Run, asset: dict[str, Any]) -> bytes:
    return package_zip(run.cfg, asset, vendored(run, asset))


def asset_key(default_key: str, blob: bytes) -> str:
    stem, dot, ext = default_key.rpartition(".")
    digest = hashlib.sha256(blob).hexdigest()[:16]
    return f"{stem}-{digest}.{ext}" if dot else f"{default_key}-{digest}"


def ensure_assets(run: Run, tpl: Template) -> None:
    """Upload the stack's assets and set their parameters on `tpl`."""
    assets = list(tpl.planned.facts.get("assets") or [])  # type: ignore[call-overload]
    if not assets:
        return
    dep = tpl.planned.deployment
    if dep.kind != "stack":
        raise AssetError(f"{tpl.name}: code assets are only supported on stacks, not {dep.kind}s",
                         hint="deploy the Lambda from a stack in one account (as evidence-store does)")
    account = run.ctx.account_id(dep.account or "management")
    for asset in assets:
        blob = build_zip(run, asset)
        key = asset_key(str(asset.get("default_key", "asset.zip")), blob)
        if run.sessions is not None and run.sessions.capabilities.lambda_third_party == "host":
            run.note(f"{tpl.name}: asset {key} holds Charter's code only; the embedded AWS's Lambda runtime "
                     f"supplies {', '.join(asset.get('requirements', []))} from this machine's environment")
        for region in dep.regions:
            bucket = str(asset["bucket"]).replace("${AWS::AccountId}", account).replace("${AWS::Region}", region)
            s3 = run.client("s3", region=region, account_id=account)
            _ensure_bucket(run, s3, bucket, region)
            if not _has(s3, bucket, key):
                run.mutate(Change("asset", f"s3://{bucket}/{key}", "upload", [f"{len(blob):,} bytes"]),
                           s3.put_object, Bucket=bucket, Key=key, Body=blob, ServerSideEncryption="AES256")
        tpl.parameters[str(asset["parameter"])] = key


def _has(s3: Any, bucket: str, key: str) -> bool:
    try:
        found = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            return False  # a dry run: the bucket is not there yet
        raise
    return any(o["Key"] == key for o in found)


def _ensure_bucket(run: Run, s3: Any, bucket: str, region: str) -> None:
    try:
        s3.get_bucket_location(Bucket=bucket)
        return
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) not in ("NoSuchBucket", "404"):
            raise
    change = Change("asset", f"s3://{bucket}", "create",
                    ["asset bucket: private, SSE-S3, versioned, owner-enforced, TLS only"])
    args: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if run.mutate(change, s3.create_bucket, **args) is None:
        return  # dry run
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={f: True for f in flags})
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
