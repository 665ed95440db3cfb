"""The embedded AWS's Lambda runtime process (standard library only; never imports Charter).

Started by `charter.local.lambda_runtime` as `python -I -S lambda_zygote.py RUNTIME_DIR`:
isolated (no PYTHONPATH, no user site, no current directory) and without site-packages,
so its `sys.path` is the standard library plus RUNTIME_DIR, which holds only what every
Lambda Python runtime provides (boto3, botocore and their dependencies). It imports boto3
once, then forks one child per invocation (a fresh process for each, in milliseconds, as a
cold start would be); the child puts the function's artifact and layers first on
`sys.path`, takes the function's environment and credentials, imports the handler and
calls it. First-party code (the `charter` namespace) is found only in the artifact and
layers, never on the host, so an artifact that lacks a module it imports fails here as
it would on AWS.

Protocol, one JSON object per line: the parent writes a request
{"id", "task_root", "layers", "host_paths", "env", "handler", "event", "result", "log",
"timeout", "function_arn", "memory", "request_id", "log_group", "log_stream", "check"} on
stdin; this process answers {"id", "pid"} when it forked and {"id", "exit"} when the
child ended. The child writes {"payload": <JSON text>, "error": bool} to `result`, and its
stdout and stderr (the function's log) to `log`. With `--once` it serves a single request
without forking and without importing boto3 first (an artifact that ships its own boto3).
"""

import importlib
import importlib.machinery
import json
import os
import signal
import sys
import time
import traceback

FIRST_PARTY = ("charter",)
_children = {}


class _ArtifactOnly:
    """Finds first-party top-level packages in the artifact and layers only."""

    def __init__(self, paths):
        self.paths = list(paths)

    def find_spec(self, name, path=None, target=None):
        if name not in FIRST_PARTY:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, self.paths)
        if spec is None:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return spec


class _Context:
    """What Lambda's Python runtime passes as `context`."""

    def __init__(self, request, deadline):
        self.function_name = request["env"].get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = request["env"].get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request["function_arn"]
        self.memory_limit_in_mb = str(request["memory"])
        self.aws_request_id = request["request_id"]
        self.log_group_name = request["log_group"]
        self.log_stream_name = request["log_stream"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _single_host(endpoint):
    """S3 Control's endpoint rules put the account id in front of the host; the embedded AWS
    is one host: send such requests to it (registered on every botocore session)."""
    from urllib.parse import urlsplit, urlunsplit

    netloc = urlsplit(endpoint).netloc

    def hook(request, **_):
        parts = urlsplit(request.url)
        if parts.netloc != netloc and parts.netloc.endswith("." + netloc):
            request.url = urlunsplit(parts._replace(netloc=netloc))

    return hook


#: Service models parsed once here, so a child's first client of them is cheap (what a warm
#: Lambda environment would have; the child still makes its own clients and credentials).
PRELOAD = ("sts", "iam", "ec2", "s3", "s3control", "kms", "organizations", "cloudformation", "logs", "dynamodb",
           "sqs", "sns", "lambda", "ssm", "secretsmanager")


def _preload():
    import boto3

    boto3.setup_default_session()  # no credentials are resolved until a child makes a client
    loader = boto3.DEFAULT_SESSION._session.get_component("data_loader")
    for service in PRELOAD:
        for kind in ("service-2", "endpoint-rule-set-1", "paginators-1"):
            try:
                loader.load_service_model(service, kind)
            except Exception:  # noqa: BLE001, S112 - a model this botocore lacks is loaded by the child, or not
                continue


def _write(fd, data):
    os.write(fd, (json.dumps(data) + "\n").encode())


def invoke(request, out_fd=None):
    """In the child: become the function and run one invocation."""
    started = time.monotonic()
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.environ.clear()
    os.environ.update(request["env"])
    artifact = [request["task_root"], *request["layers"]]
    sys.path[:0] = artifact
    sys.path.extend(request["host_paths"])
    sys.meta_path.insert(0, _ArtifactOnly(artifact))
    endpoint = request["env"].get("AWS_ENDPOINT_URL")
    if endpoint:
        try:
            import botocore.handlers

            hook = _single_host(endpoint)
            botocore.handlers.BUILTIN_HANDLERS.append(("before-send", hook))  # sessions made from now on
            boto3 = sys.modules.get("boto3")
            if boto3 is not None and boto3.DEFAULT_SESSION is not None:  # the one made before the fork
                boto3.DEFAULT_SESSION._session.register("before-send", hook)
        except ImportError:
            pass
    os.chdir(request["task_root"])
    module_name, _, function = request["handler"].rpartition(".")
    result = {"payload": None, "error": True}
    try:
        try:
            module = importlib.import_module(module_name)
            handler = getattr(module, function)
        except Exception as exc:  # noqa: BLE001 - reported as Lambda reports it
            kind = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else "Runtime.UserCodeSyntaxError" \
                if isinstance(exc, SyntaxError) else "Runtime.HandlerNotFound"
            message = f"Unable to import module '{module_name}': {exc}" if kind != "Runtime.HandlerNotFound" else \
                f"Handler '{function}' missing on module '{module_name}'"
            print(f"[ERROR] {kind}: {message}", flush=True)
            result["payload"] = json.dumps({"errorMessage": message, "errorType": kind, "stackTrace": []})
            return result
        # the function's timeout starts after its init (the import), which Lambda times apart
        deadline = max(started, time.monotonic()) + float(request["timeout"])
        if request.get("check"):
            result = {"payload": json.dumps({"module": getattr(module, "__file__", "")}), "error": False}
            return result
        try:
            event = json.loads(request["event"]) if request["event"] else {}
            answer = handler(event, _Context(request, deadline))
            result = {"payload": json.dumps(answer), "error": False}
        except Exception as exc:  # noqa: BLE001 - an unhandled error of the function
            frames = traceback.format_tb(exc.__traceback__)[1:]  # from the handler down, as Lambda shows it
            print(f"[ERROR] {type(exc).__name__}: {exc}\n{''.join(frames)}", flush=True)
            result["payload"] = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__,
                                            "stackTrace": frames})
        return result
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        with open(request["result"] + ".tmp", "w") as fh:
            json.dump(result, fh)
        os.replace(request["result"] + ".tmp", request["result"])


def _reap(signum, frame):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        ident = _children.pop(pid, None)
        if ident is not None:
            _write(1, {"id": ident, "exit": os.waitstatus_to_exitcode(status)})


def serve():
    _preload()
    signal.signal(signal.SIGCHLD, _reap)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        sys.stdout.flush()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            pid = os.fork()
            if pid == 0:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setpgid(0, 0)  # its own group: a timeout ends what it started too
                try:
                    invoke(request)
                finally:
                    os._exit(0)
            _children[pid] = request["id"]
            _write(1, {"id": request["id"], "pid": pid})
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])  # RUNTIME_DIR: boto3 and its dependencies only
    if "--once" in sys.argv:
        invoke(json.loads(sys.stdin.readline()))
    else:
        serve()
