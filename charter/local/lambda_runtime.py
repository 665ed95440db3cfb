"""Lambda functions of the embedded AWS run their code: the artifact moto holds (the zip
deploy uploaded, or the inline ZipFile) and the function's layers, in an interpreter of
their own (`lambda_zygote.py`), with the function's role credentials, environment and
timeout, against the embedded AWS. moto 5.2.1 runs Lambda code only in Docker, which the
embedded AWS does not have; without this, no Lambda Charter ships ever ran before AWS.

What the function's interpreter sees, as on AWS:
- `sys.path`: the artifact (LAMBDA_TASK_ROOT), each layer's `python/` (and its
  `python/lib/pythonX.Y/site-packages`), the runtime's boto3/botocore, the standard library;
  the `charter` namespace is found in the artifact and layers only;
- the environment: the function's variables, AWS_REGION, AWS_LAMBDA_FUNCTION_NAME and the
  rest of Lambda's, credentials of its execution role (STS AssumeRole on the embedded AWS),
  and AWS_ENDPOINT_URL pointing at the embedded AWS (where AWS's SDK goes to AWS);
- the event, a context (request id, ARN, memory, `get_remaining_time_in_millis`), the
  function's timeout (the process is killed after it, with Lambda's "Task timed out"),
  and its stdout/stderr written to its log group when the group exists.

What differs from AWS, and why:
- the interpreter is this machine's Python, not the runtime's (python3.12 on AWS), and
  boto3/botocore are this machine's versions;
- third-party packages an artifact leaves to a layer that deploy could not build offline
  come from this machine's site-packages, after the artifact and layers (the capability
  `lambda_third_party == "host"`): first-party code never does;
- memory is not limited; every invocation is a cold start (a fresh process forked from a
  runtime that has boto3 loaded); architecture (arm64/x86_64) is the host's;
- functions run at a lower CPU priority than the embedded AWS's services and their callers
  (`charter.local.priority`): on AWS they do not share a machine with them.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import importlib.util
import io
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.local import priority

log = logging.getLogger("charter.local.lambda")

#: What every Lambda Python runtime provides beside the standard library.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_ZYGOTE = Path(__file__).with_name("lambda_zygote.py")
#: Extra seconds to wait for a process past the function's timeout before killing it.
_GRACE = 5.0
#: Lambda's init phase (importing the handler's module) has its own limit, apart from the
#: function's timeout (10 s for on-demand functions).
INIT_SECONDS = 10.0


@dataclass
class Invocation:
    payload: str
    errored: bool
    logs: str


def _cache_root() -> Path:
    root = Path(tempfile.gettempdir()) / f"charter-lambda-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def _extract(blob: bytes, kind: str) -> Path:
    """The zip unpacked once per content (sha256), as Lambda unpacks it under /var/task or /opt."""
    digest = hashlib.sha256(blob).hexdigest()[:24]
    target = _cache_root() / kind / digest
    if (target / ".complete").exists():
        return target
    tmp = target.with_name(f"{digest}.{uuid.uuid4().hex[:8]}")
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        for info in zf.infolist():
            zf.extract(info, tmp)
            mode = info.external_attr >> 16
            if mode and not info.is_dir():
                os.chmod(tmp / info.filename, mode & 0o777 or 0o644)
    (tmp / ".complete").write_text("ok\n")
    try:
        tmp.rename(target)
    except OSError:  # another thread unpacked the same content first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _runtime_dir() -> Path:
    """A directory holding only what Lambda's runtime provides (links to this machine's)."""
    target = _cache_root() / "runtime" / hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        source = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
        link = target / source.name
        if not link.exists():
            try:
                link.symlink_to(source)
            except FileExistsError:
                pass
    return target


def host_paths() -> list[str]:
    """This machine's site-packages, for third-party packages the artifact leaves to the host."""
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]


class _Zygote:
    """The runtime process and the invocations it is running."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-I", "-S", str(_ZYGOTE), str(_runtime_dir())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     bufsize=0)
        priority.lower(self.proc.pid)  # before its first fork: every invocation inherits it
        self.lock = threading.Lock()
        self.waiting: dict[str, dict[str, Any]] = {}
        self.reader = threading.Thread(target=self._read, name="charter-lambda-runtime", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            with self.lock:
                slot = self.waiting.get(message.get("id"))
            if slot is None:
                continue
            if "pid" in message:
                slot["pid"] = message["pid"]
            if "exit" in message:
                slot["exit"] = message["exit"]
                slot["done"].set()
        with self.lock:  # the runtime died: nothing it ran will report
            for slot in self.waiting.values():
                slot.setdefault("exit", -1)
                slot["done"].set()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, request: dict[str, Any], timeout: float) -> int | None:
        slot: dict[str, Any] = {"done": threading.Event()}
        with self.lock:
            self.waiting[request["id"]] = slot
        try:
            assert self.proc.stdin is not None
            with self.lock:
                self.proc.stdin.write((json.dumps(request) + "\n").encode())
            if not slot["done"].wait(INIT_SECONDS + timeout + _GRACE):
                pid = slot.get("pid")
                if pid:
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                slot["done"].wait(_GRACE)
                return None
            return slot.get("exit")
        finally:
            with self.lock:
                self.waiting.pop(request["id"], None)

    def stop(self) -> None:
        with self.lock:  # the invocations still running: each in its own process group
            pids = [slot["pid"] for slot in self.waiting.values() if slot.get("pid")]
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


_zygote: _Zygote | None = None
_zygote_lock = threading.Lock()


def _runtime() -> _Zygote:
    global _zygote
    with _zygote_lock:
        if _zygote is None or not _zygote.alive():
            _zygote = _Zygote()
        return _zygote


def stop() -> None:
    """End the runtime process (the last embedded AWS of this process stopped)."""
    global _zygote
    with _zygote_lock:
        if _zygote is not None:
            _zygote.stop()
            _zygote = None


atexit.register(stop)


def _once(request: dict[str, Any], timeout: float) -> int | None:
    """A fresh interpreter for one invocation (an artifact that ships its own boto3)."""
    proc = subprocess.Popen([sys.executable, "-I", "-S", str(_ZYGOTE), str(_runtime_dir()), "--once"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    priority.lower(proc.pid)
    try:
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(request) + "\n").encode())
        proc.stdin.close()
        return proc.wait(INIT_SECONDS + timeout + _GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _ships_own_sdk(paths: list[Path]) -> bool:
    return any((p / name).exists() for p in paths for name in ("boto3", "botocore"))


def _layer_paths(root: Path, runtime: str) -> list[str]:
    python = root / "python"
    version = runtime.removeprefix("python") if runtime.startswith("python") else ""
    site = python / "lib" / f"python{version}" / "site-packages"
    return [str(p) for p in (python, site) if p.is_dir()]


_counter = itertools.count()


def run(code: bytes, layers: list[bytes], *, handler: str, runtime: str, env: dict[str, str], event: Any,
        timeout: float, function_arn: str, memory: int, log_group: str, log_stream: str,
        host_third_party: bool, check: bool = False) -> Invocation:
    """Run one invocation of a function whose artifact is `code` (a zip) with `layers`."""
    task_root = _extract(code, "task")
    layer_roots = [_extract(blob, "layers") for blob in layers]
    layer_paths = [p for root in layer_roots for p in _layer_paths(root, runtime)]
    work = Path(tempfile.mkdtemp(prefix="invoke-", dir=_cache_root()))
    request_id = str(uuid.uuid4())
    request = {
        "id": f"{os.getpid()}-{next(_counter)}", "task_root": str(task_root), "layers": layer_paths,
        "host_paths": host_paths() if host_third_party else [], "handler": handler,
        "env": {**env, "LAMBDA_TASK_ROOT": str(task_root), "_HANDLER": handler},
        "event": event if isinstance(event, str) else json.dumps(event), "result": str(work / "result.json"),
        "log": str(work / "log.txt"), "timeout": timeout, "function_arn": function_arn, "memory": memory,
        "request_id": request_id, "log_group": log_group, "log_stream": log_stream, "check": check,
    }
    try:
        if _ships_own_sdk([task_root, *map(Path, layer_paths)]):
            exit_code = _once(request, timeout)
        else:
            exit_code = _runtime().run(request, timeout)
        logs = (work / "log.txt").read_text(errors="replace") if (work / "log.txt").exists() else ""
        if exit_code is None:
            message = f"Task timed out after {timeout:.2f} seconds"
            return Invocation(json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}), True,
                              logs + f"\n{message}")
        try:
            result = json.loads((work / "result.json").read_text())
        except (FileNotFoundError, ValueError):
            message = f"Runtime exited with error: exit status {exit_code}"
            return Invocation(json.dumps({"errorMessage": message, "errorType": "Runtime.ExitError"}), True,
                              logs)
        return Invocation(result["payload"] if result["payload"] is not None else "null", bool(result["error"]), logs)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


# -- moto's functions ---------------------------------------------------------------------------

def _role_credentials(fn: Any) -> dict[str, str]:
    """Temporary credentials of the function's execution role, as Lambda gets them: with
    permissions enforced, only when the role's trust policy admits lambda.amazonaws.com
    (`enforcement.AccessDenied` otherwise)."""
    from charter.local import enforcement

    if enforcement.enabled():
        key, secret, token = enforcement.service_credentials(fn.account_id, fn.role, "lambda.amazonaws.com",
                                                             fn.region)
        return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}
    from moto.sts.models import sts_backends
    from moto.utilities.utils import get_partition

    backend = sts_backends[fn.account_id][get_partition(fn.region)]
    role = backend.assume_role(region_name=fn.region, role_session_name=fn.function_name, role_arn=fn.role,
                               policy=None, duration=43200, external_id=None)
    return {"AWS_ACCESS_KEY_ID": role.access_key_id, "AWS_SECRET_ACCESS_KEY": role.secret_access_key,
            "AWS_SESSION_TOKEN": role.session_token}


def _layer_blobs(fn: Any) -> list[bytes]:
    from moto.awslambda.models import lambda_backends

    backend = lambda_backends[fn.account_id][fn.region]
    blobs = []
    for layer in fn.layers or []:
        version = backend.layers_versions_by_arn(layer["Arn"])
        blobs.append(version.code_bytes)
    return blobs


def _code_blob(fn: Any) -> bytes:
    code = getattr(fn, "code_bytes", b"") or b""
    if isinstance(code, str):
        code = base64.b64decode(code)
    return code


def invoke_function(fn: Any, event: Any, endpoint: str, host_third_party: bool = True,
                    check: bool = False) -> Invocation:
    """Invoke a moto Lambda function with its own code, as Lambda would."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    stream = f"{now:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
    group = f"/aws/lambda/{fn.function_name}"
    env = {str(k): str(v) for k, v in (fn.environment_vars or {}).items()}
    env.update({
        "AWS_REGION": fn.region, "AWS_DEFAULT_REGION": fn.region, "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": group, "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "TZ": ":UTC", "LANG": "en_US.UTF-8", "PATH": "/usr/local/bin:/usr/bin:/bin",
        "AWS_ENDPOINT_URL": endpoint, **_role_credentials(fn),
    })
    result = run(_code_blob(fn), _layer_blobs(fn), handler=fn.handler, runtime=fn.run_time or "python3.12", env=env,
                 event=event, timeout=float(fn.timeout or 3), function_arn=fn.function_arn,
                 memory=int(fn.memory_size or 128), log_group=group, log_stream=stream,
                 host_third_party=host_third_party, check=check)
    _save_logs(fn, group, stream, result.logs)
    return result


def _save_logs(fn: Any, group: str, stream: str, text: str) -> None:
    """The function's output in its log group, when the group exists (Charter creates each
    function's log group itself; a missing one is not made here)."""
    if not text.strip():
        return
    try:
        from moto.logs.models import logs_backends

        backend = logs_backends[fn.account_id][fn.region]
        if group not in backend.groups:
            return
        backend.create_log_stream(group, stream)
        from moto.core.utils import unix_time_millis

        backend.put_log_events(group, stream, [{"timestamp": unix_time_millis(), "message": line}
                                               for line in text.splitlines() if line.strip()])
    except Exception:  # noqa: BLE001 - logs are a side channel; the invocation's result stands
        log.debug("could not write the logs of %s", fn.function_name, exc_info=True)
