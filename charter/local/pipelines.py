"""SageMaker pipeline executions run on the embedded AWS: each Processing step's container
entrypoint as a local process, under SageMaker's Processing contract.

For every step (in order, after its DependsOn): the step's arguments are resolved
(`Get: Parameters.X`, `Execution.*`, `Std:Join`), its S3 inputs are downloaded with the
pipeline's role (SageMaker's credentials, so a role without the read fails the step as
on AWS) under a temporary root's /opt/ml/processing/input/<name>, SageMaker's
processingjobconfig.json and resourceconfig.json are written, and the container's
ContainerEntrypoint + ContainerArguments run with its Environment, CHARTER_SM_ROOT set to
that root, no AWS credentials (network isolation), MaxRuntimeInSeconds as a timeout and a
lower CPU priority than the services and their callers (`charter.local.priority`).
Exit 0 uploads the outputs to their S3Uri; otherwise the step fails with
"AlgorithmError: <the first 1 KB of /opt/ml/output/message>", as SageMaker reports it.

A Lambda step invokes its FunctionArn through the embedded AWS's Lambda API with the
pipeline's role (as SageMaker does: the role needs lambda:InvokeFunction on the function),
so the function runs from its deployed artifact; its resolved Arguments are the event, an
error the function raises fails the step with the function's error, and each declared
OutputParameter must be a key of the function's answer (its value becomes the step's
output, listed in the step's Metadata.Lambda).

Each change emits SageMaker's EventBridge events on the account's default bus ("SageMaker
Model Building Pipeline Execution Status Change" / "... Step Status Change", source
aws.sagemaker), so rules and their targets see what they see on AWS.
Only Processing and Lambda steps run; another step type fails with a reason naming it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from charter.local import priority

log = logging.getLogger("charter.local.pipelines")

#: Executions still running (their processes are killed when the embedded AWS stops).
_RUNNING: set[subprocess.Popen] = set()
_LOCK = threading.Lock()
#: Processing steps running at once on this machine (AWS bounds them by the account's
#: instance quotas; here by the cores). A step waits for a slot before it does anything (as
#: a processing job waits for its instances before downloading its inputs), so a burst of
#: submits queues instead of a thread per job downloading its inputs at once.
_SLOTS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 1)))
#: One botocore session for the steps' clients: its loader reads each service's model once
#: (a client from a fresh session re-reads it: tens of ms of CPU per step). Creating
#: clients from one session is not thread-safe, hence the lock.
_SESSION: list[Any] = []
_SESSION_LOCK = threading.Lock()
#: Executions running at once, each on a runner thread; the others wait in order of their
#: start, already "Executing" as on AWS. A thread per execution made a burst of submits a
#: burst of threads, each started inside its StartPipelineExecution call (the caller waits
#: for the new thread to get the interpreter lock) and each emitting its events and
#: building its clients at once.
RUNNERS = 2 * max(1, (os.cpu_count() or 1))
_QUEUE: queue.SimpleQueue[Execution] = queue.SimpleQueue()
_RUNNER_THREADS: list[threading.Thread] = []
#: The longest SageMaker waits for a Lambda step's function.
LAMBDA_STEP_SECONDS = 600
#: A Processing step's local root (its /opt/ml) is a temporary directory named for the
#: process that runs the step: `charter-processing-<pid>-<random>`.
ROOT_PREFIX = "charter-processing-"
_SWEEP: list[threading.Thread] = []  # once per process, beside the runners (see `start`)


class StepFailed(Exception):
    pass


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve(value: Any, params: dict[str, str], execution: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Get"}:
            path = str(value["Get"])
            if path.startswith("Parameters."):
                return params[path.split(".", 1)[1]]
            if path.startswith("Execution."):
                return execution[path.split(".", 1)[1]]
            raise StepFailed(f"the embedded AWS cannot resolve {path}")
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return str(join.get("On", "")).join(str(resolve(v, params, execution)) for v in join["Values"])
        return {k: resolve(v, params, execution) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params, execution) for v in value]
    return value


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise StepFailed(f"ClientError: {uri} is not an S3 URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class Execution:
    """One pipeline execution on the embedded AWS (see the module docstring)."""

    def __init__(self, execution: Any, pipeline: Any, account: str, region: str, endpoint: str) -> None:
        self.execution, self.pipeline = execution, pipeline
        self.account, self.region, self.endpoint = account, region, endpoint
        self.definition = json.loads(execution.pipeline_definition_for_execution or "{}")
        defaults = {p["Name"]: p.get("DefaultValue") for p in self.definition.get("Parameters", [])}
        given = {p["Name"]: p["Value"] for p in execution.pipeline_parameters or []}
        self.params = {**{k: v for k, v in defaults.items() if v is not None}, **given}
        self.ids = {"PipelineExecutionId": execution.arn.rsplit("/", 1)[-1],
                    "PipelineExecutionArn": execution.arn, "PipelineName": pipeline.pipeline_name}
        execution.charter_steps = []

    # -- events ------------------------------------------------------------------------
    def _emit(self, detail_type: str, detail: dict[str, Any]) -> None:
        from moto.events.models import events_backends

        detail = {"pipelineArn": self.pipeline.arn, "pipelineExecutionArn": self.execution.arn, **detail}
        events_backends[self.account][self.region].put_events([{
            "Source": "aws.sagemaker", "DetailType": detail_type, "Detail": json.dumps(detail),
            "Resources": [self.pipeline.arn, self.execution.arn]}])

    def _status(self, state: str, reason: str | None = None) -> None:
        previous = self.execution.pipeline_execution_status
        self.execution.pipeline_execution_status = state
        self.execution.pipeline_execution_failure_reason = reason
        detail = {"currentPipelineExecutionStatus": state, "previousPipelineExecutionStatus": previous,
                  "executionStartTime": self.execution.start_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "pipelineExecutionDisplayName": self.execution.pipeline_execution_display_name,
                  "pipelineExecutionDescription": self.execution.pipeline_execution_description}
        if state in ("Succeeded", "Failed", "Stopped"):
            detail["executionEndTime"] = _now()
        self._emit("SageMaker Model Building Pipeline Execution Status Change", detail)

    def _step(self, record: dict[str, Any], state: str) -> None:
        previous = record.get("StepStatus")
        record["StepStatus"] = state
        detail: dict[str, Any] = {"stepName": record["StepName"], "stepType": record["StepType"],
                                  "currentStepStatus": state, "stepStartTime": record["StartTime"],
                                  "metadata": record.get("Metadata", {})}
        if previous:
            detail["previousStepStatus"] = previous
        if state in ("Succeeded", "Failed"):
            record["EndTime"] = detail["stepEndTime"] = _now()
        if record.get("FailureReason"):
            detail["failureReason"] = record["FailureReason"]
        self._emit("SageMaker Model Building Pipeline Execution Step Status Change", detail)

    # -- running -----------------------------------------------------------------------
    def run(self) -> None:
        self._status("Executing")
        failed = None
        for step in self.definition.get("Steps", []):
            record = {"StepName": step["Name"], "StepType": step.get("Type", ""), "StartTime": _now()}
            self.execution.charter_steps.append(record)
            self._step(record, "Starting")
            try:
                self._step(record, "Executing")
                if step.get("Type") == "Lambda":
                    record["Metadata"] = {"Lambda": {"Arn": step["FunctionArn"]}}
                    outputs = self._lambda(step, resolve(step.get("Arguments") or {}, self.params, self.ids))
                    record["Metadata"]["Lambda"]["OutputParameters"] = outputs
                elif step.get("Type") == "Processing":
                    record["Metadata"] = {"ProcessingJob": {"Arn": f"arn:aws:sagemaker:{self.region}:{self.account}:"
                                                                   f"processing-job/pipelines-"
                                                                   f"{self.ids['PipelineExecutionId']}-{step['Name']}"}}
                    self._processing(resolve(step["Arguments"], self.params, self.ids))
                else:
                    raise StepFailed(f"the embedded AWS runs Processing and Lambda steps only, not {step.get('Type')}")
            except StepFailed as exc:
                record["FailureReason"] = str(exc)[:1024]
                self._step(record, "Failed")
                failed = f"Step failure: One or multiple steps failed. {step['Name']}: {exc}"
                break
            except Exception as exc:  # noqa: BLE001 - the embedded AWS's own fault fails the step, never hangs it
                record["FailureReason"] = f"InternalServerError: {type(exc).__name__}: {exc}"[:1024]
                self._step(record, "Failed")
                failed = record["FailureReason"]
                break
            self._step(record, "Succeeded")
        self._status("Failed" if failed else "Succeeded", failed)

    def _client(self, service: str, role_arn: str, config: Any = None) -> Any:
        """A client with the credentials SageMaker gets for the step's role."""
        import boto3

        from charter.local import enforcement

        if enforcement.enabled():
            try:
                key, secret, token = enforcement.service_credentials(self.account, role_arn, "sagemaker.amazonaws.com",
                                                                     self.region)
            except enforcement.AccessDenied as exc:
                raise StepFailed(f"ClientError: {exc}") from None
        else:
            from moto.sts.models import sts_backends

            role = sts_backends[self.account]["aws"].assume_role(
                region_name=self.region, role_session_name="SageMaker", role_arn=role_arn, policy="", duration=3600,
                external_id="")
            key, secret, token = role.access_key_id, role.secret_access_key, role.session_token
        with _SESSION_LOCK:
            if not _SESSION:
                _SESSION.append(boto3.session.Session())
            return _SESSION[0].client(service, endpoint_url=self.endpoint, region_name=self.region,
                                      aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                                      config=config)

    def _s3(self, role_arn: str) -> Any:
        return self._client("s3", role_arn)

    def _lambda(self, step: dict[str, Any], event: dict[str, Any]) -> list[dict[str, str]]:
        """Invoke the step's function with the pipeline's role; the step's OutputParameters."""
        from botocore.config import Config
        from botocore.exceptions import ClientError

        # SageMaker waits for a Lambda step's function at most 10 minutes, and invokes it once
        client = self._client("lambda", self.pipeline.role_arn,
                              Config(read_timeout=LAMBDA_STEP_SECONDS, retries={"total_max_attempts": 1}))
        try:
            answer = client.invoke(FunctionName=step["FunctionArn"], InvocationType="RequestResponse",
                                   Payload=json.dumps(event).encode())
        except ClientError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        body = answer["Payload"].read()
        if answer.get("FunctionError"):
            try:
                error = json.loads(body)
                text = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
            except (ValueError, AttributeError):
                text = body.decode(errors="replace")
            raise StepFailed(f"Lambda function {step['FunctionArn']} failed: {text}")
        try:
            result = json.loads(body)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise StepFailed(f"Lambda function {step['FunctionArn']} answered {body[:200]!r}, not a JSON object")
        outputs = []
        for out in step.get("OutputParameters") or []:
            name = out["OutputName"]
            if name not in result:
                raise StepFailed(f"Lambda function {step['FunctionArn']} answered no output parameter {name!r}")
            outputs.append({"Name": name, "Value": str(result[name])})
        return outputs

    def _processing(self, args: dict[str, Any]) -> None:
        with _SLOTS:
            self._run_processing(args)

    def _run_processing(self, args: dict[str, Any]) -> None:
        from botocore.exceptions import ClientError

        s3 = self._s3(args["RoleArn"])
        root = Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-"))
        try:
            for inp in args.get("ProcessingInputs", []):
                src = inp.get("S3Input") or {}
                bucket, prefix = _split(src["S3Uri"])
                local = root / src["LocalPath"].lstrip("/")
                local.mkdir(parents=True, exist_ok=True)
                base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
                try:
                    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                                            Prefix=prefix)
                            for o in page.get("Contents", [])]
                    if not keys:
                        raise StepFailed(f"ClientError: No S3 objects found under S3 URL \"{src['S3Uri']}\" given in "
                                         f"input data source. Please ensure that the bucket exists in the selected "
                                         f"region ({self.region}), that objects exist under that S3 prefix, and that "
                                         f"the role \"{args['RoleArn']}\" has \"s3:ListBucket\" permissions on bucket "
                                         f"\"{bucket}\".")
                    for key in keys:
                        dest = local / key[len(base):]
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        s3.download_file(bucket, key, str(dest))
                except ClientError as exc:
                    raise StepFailed(f"ClientError: {exc}") from None
            for out in args.get("ProcessingOutputConfig", {}).get("Outputs", []):
                (root / out["S3Output"]["LocalPath"].lstrip("/")).mkdir(parents=True, exist_ok=True)
            config = root / "opt" / "ml" / "config"
            config.mkdir(parents=True, exist_ok=True)
            (config / "processingjobconfig.json").write_text(json.dumps(args))
            (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
            self._run_container(args, root)
            for out in args.get("ProcessingOutputConfig", {}).get("Outputs", []):
                bucket, prefix = _split(out["S3Output"]["S3Uri"])
                local = root / out["S3Output"]["LocalPath"].lstrip("/")
                for path in sorted(p for p in local.rglob("*") if p.is_file()):
                    key = f"{prefix.rstrip('/')}/{path.relative_to(local).as_posix()}"
                    try:
                        s3.upload_file(str(path), bucket, key)
                    except ClientError as exc:
                        raise StepFailed(f"ClientError: cannot upload {key} to {bucket}: {exc}") from None
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _run_container(self, args: dict[str, Any], root: Path) -> None:
        app = args["AppSpecification"]
        command = list(app.get("ContainerEntrypoint") or []) + list(app.get("ContainerArguments") or [])
        if not command:
            raise StepFailed("ClientError: the step has no ContainerEntrypoint; the embedded AWS runs no image")
        if command[0] in ("python3", "python"):
            command[0] = sys.executable  # the image's interpreter is this one, with Charter installed
        # network isolation: nothing of this process's AWS access reaches the container
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({str(k): str(v) for k, v in (args.get("Environment") or {}).items()})
        env["CHARTER_SM_ROOT"] = str(root)
        timeout = float((args.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)
        proc = subprocess.Popen(command, env=env, cwd=str(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        priority.lower(proc.pid)  # the container's machine is not the API's (see charter.local.priority)
        with _LOCK:
            _RUNNING.add(proc)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise StepFailed(f"ClientError: the job exceeded MaxRuntimeInSeconds ({timeout:.0f} s)") from None
        finally:
            with _LOCK:
                _RUNNING.discard(proc)
        self.execution.charter_logs = getattr(self.execution, "charter_logs", "") + log.decode(errors="replace")
        if proc.returncode != 0:
            message = root / "opt" / "ml" / "output" / "message"
            text = message.read_text(errors="replace")[:1024] if message.exists() else \
                f"See job logs for more information (exit code {proc.returncode})"
            raise StepFailed(f"AlgorithmError: {text}")


def sweep_abandoned_roots() -> int:
    """Remove the step roots of processes that no longer run; how many were removed.

    A step removes its root when it ends, but a process that is killed mid-step (a
    stopped `charter workload serve --local`, an interrupted benchmark or test run) never
    gets there, and each root holds the step's inputs (market data, a few MB). Roots of a
    process still running (another embedded AWS on the machine) are left alone, as are
    roots not named by this scheme."""
    removed = 0
    for root in Path(tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*"):
        pid = root.name[len(ROOT_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not root.is_dir() or _running(int(pid)):
            continue
        shutil.rmtree(root, ignore_errors=True)
        removed += not root.exists()
    if removed:
        log.info("removed %d Processing step root(s) left by processes that ended mid-step", removed)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # (PermissionError) it runs, as another user
        return True
    return True


def start(execution: Any, pipeline: Any, account: str, region: str, endpoint: str) -> None:
    """Queue the execution for the next free runner (see RUNNERS); the first one of this
    process also clears, on a thread of its own, what killed processes left behind
    (`sweep_abandoned_roots`: thousands of directories to remove are not the caller's wait)."""
    runner = Execution(execution, pipeline, account, region, endpoint)
    execution.pipeline_execution_status = "Executing"
    _QUEUE.put(runner)
    with _LOCK:
        if not _SWEEP:
            _SWEEP.append(threading.Thread(target=sweep_abandoned_roots, name="processing-root-sweep", daemon=True))
            _SWEEP[0].start()
        _RUNNER_THREADS[:] = [t for t in _RUNNER_THREADS if t.is_alive()]
        while len(_RUNNER_THREADS) < RUNNERS:
            thread = threading.Thread(target=_run_queued, name=f"pipeline-runner-{len(_RUNNER_THREADS)}", daemon=True)
            thread.start()
            _RUNNER_THREADS.append(thread)


def _run_queued() -> None:
    while True:
        runner = _QUEUE.get()
        try:
            runner.run()
        except Exception:  # noqa: BLE001 - run() fails its steps itself; this keeps the runner alive
            log.exception("pipeline execution %s failed in the embedded AWS", runner.ids["PipelineExecutionArn"])


def stop_all() -> None:
    """Drop the executions not started and kill the step processes still running (the
    embedded AWS is stopping)."""
    while True:
        try:
            _QUEUE.get_nowait()
        except queue.Empty:
            break
    with _LOCK:
        procs = list(_RUNNING)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
