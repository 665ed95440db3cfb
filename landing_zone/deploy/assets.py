"""Code assets (`StackSpec.facts["assets"]`): a Lambda whose code CloudFormation reads from S3.

Before the stack that declares them, deploy builds each asset's zip, stores it in the
asset bucket of the stack's account and region (created when missing: private, encrypted,
versioned, TLS only) under a content-addressed key, and passes that key as the stack's
parameter (`asset["parameter"]`). Same code -> same key: a deploy with no code change only
reads (GetBucketLocation, ListObjectsV2); changed code -> a new key -> the stack updates
its function.

The zip: the `charter`, `charter.evidence`, `charter.landing_zone` and `charter.controls` packages, `org.yaml` at the root (the
deployed configuration), and the dependencies the Lambda runtime lacks
(`LAMBDA_REQUIREMENTS`), installed by pip for the function's runtime (Linux x86_64 wheels)
and cached under `<out>/.charter/assets/`. On the embedded AWS, which never runs Lambda
code, the dependencies are left out (a note says so); everything else is identical.
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
import yaml

from charter import source
from charter.aws import error_code

from .errors import AssetError
from .run import Change, Run
from .templates import Template

#: What the evidence collector imports beyond the Lambda runtime (which has boto3).
LAMBDA_REQUIREMENTS = ("pydantic>=2,<3", "ruamel.yaml", "PyYAML", "cryptography")
#: `charter.controls` ships for its catalog: collectors map controls to criteria with it and the
#: config loader checks custom SCP statements' control ids against it.
PACKAGES = ("charter", "charter.evidence", "charter.landing_zone", "charter.controls")
#: Parts of the `charter` namespace the collector never imports (a wheel holds them inside `charter/`).
NOT_SHIPPED = tuple(f"charter/{d}/" for d in ("workloads", "optimizer", "runbooks", "templates"))
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same files always make the same zip


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _files(root: Path, prefix: str = "") -> list[tuple[str, Path]]:
    return sorted((prefix + p.relative_to(root).as_posix(), p) for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))


def vendored(run: Run, asset: dict[str, Any]) -> Path | None:
    """The dependencies installed for the Lambda runtime, cached; None on the embedded AWS."""
    if run.sessions is not None and run.sessions.endpoint_url is not None:
        return None
    runtime = str(asset.get("runtime", "python3.12")).removeprefix("python")
    key = hashlib.sha256(json.dumps([runtime, LAMBDA_REQUIREMENTS]).encode()).hexdigest()[:12]
    target = Path(run.out_dir) / ".charter" / "assets" / f"deps-{key}"
    if (target / ".complete").exists():
        return target
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "--only-binary=:all:",
           "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", runtime,
           *LAMBDA_REQUIREMENTS]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssetError(f"assets: pip could not install {', '.join(LAMBDA_REQUIREMENTS)} for Lambda "
                         f"python{runtime}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}",
                         hint="check access to PyPI (or a mirror via PIP_INDEX_URL) and re-run deploy")
    (target / ".complete").write_text("ok\n")
    return target


def build_zip(run: Run, asset: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    deps = vendored(run, asset)
    with zipfile.ZipFile(buf, "w") as zf:
        entries = {name: path for package in PACKAGES for name, path in source.files(package)
                   if not name.startswith(NOT_SHIPPED)}
        for name, path in sorted(entries.items()):
            _add(zf, name, path.read_bytes())
        config = run.cfg.model_dump(mode="json", by_alias=True, exclude_unset=True)
        _add(zf, "org.yaml", yaml.safe_dump(config, sort_keys=False).encode())
        if deps is not None:
            for name, path in _files(deps):
                if not name.startswith(".complete"):
                    _add(zf, name, path.read_bytes())
    return buf.getvalue()


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
        if run.sessions is not None and run.sessions.endpoint_url is not None:
            run.note(f"{tpl.name}: asset {key} holds no dependencies ({', '.join(LAMBDA_REQUIREMENTS)}): "
                     "the embedded AWS never runs Lambda code")
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
