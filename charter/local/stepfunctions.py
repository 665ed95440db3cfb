"""Step Functions executions run on the embedded AWS: the state machine's definition executed,
its Lambda tasks running their code from the built artifact (`lambda_runtime`).

moto 5.2.1 stores state machines and executions but does not run them: an execution stays
RUNNING for ever (`tests/local/test_stepfunctions.py` shows it). moto also ships a parser
derived from LocalStack (`stepfunctions.execute_state_machine` in its config); it is not used
here because CloudFormation-made state machines are not in its backend, it calls Lambda as
a fixed test identity rather than as the state machine's role, and it has no
RedriveExecution. This module runs the subset of the Amazon States Language Charter's state
machines use, as Step Functions does:

- `Task` with `arn:aws:states:::lambda:invoke` (Parameters, ResultSelector, ResultPath,
  InputPath, OutputPath, Retry with IntervalSeconds/BackoffRate/MaxAttempts, Catch); a
  function error is the task's error named by its errorType (`Sandbox.Timedout` when the
  function ran out of time), its cause the function's JSON answer;
- `Map`, INLINE or DISTRIBUTED: items from `ItemsPath` or an `ItemReader` (S3 getObject, a
  JSON array), `ItemSelector`, `MaxConcurrency`, `ToleratedFailurePercentage`/`Count`
  (beyond it: `States.ExceedToleratedFailureThreshold`); a distributed Map's items are
  child executions with their own ARNs in a Map Run (ListMapRuns, DescribeMapRun,
  ListExecutions with mapRunArn, DescribeExecution);
- `Pass`, `Succeed`, `Fail` (Error/Cause, ErrorPath/CausePath); `$`/`$$` paths (Execution,
  StateMachine, Map.Item); no intrinsic functions and no Choice/Parallel/Wait (such a state
  fails the execution with `States.Runtime` naming it, rather than doing something else);
- every call is made with the state machine role's credentials, obtained as
  states.amazonaws.com (so its trust policy and, with permissions enforced, its identity
  policy decide, as on AWS), including `states:StartExecution` on itself for a distributed
  Map's children;
- DescribeExecution answers status, output, error, cause and the redrive fields;
  GetExecutionHistory the state and Map Run events; RedriveExecution continues a FAILED,
  ABORTED or TIMED_OUT execution from its unsuccessful state with the same input, re-running
  only a Map Run's unsuccessful children, each from its own unsuccessful state.

What differs from AWS, on purpose: a Map runs at most `LOCAL_SLOTS` items at once (the
machine's cores bound the Lambda processes, not MaxConcurrency); Retry intervals are honoured
but jitter is not randomised; executions have no 1-year limit, and history is kept in memory.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("charter.local.stepfunctions")

#: Map items running at once here (each is a Lambda process of its own).
LOCAL_SLOTS = max(2, os.cpu_count() or 2)
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
S3_GET_OBJECT = "arn:aws:states:::s3:getObject"

_LOCK = threading.Lock()
_EXECUTIONS: dict[str, ExecutionRecord] = {}
_CHILDREN: dict[str, Child] = {}
_MAP_RUNS: dict[str, MapRun] = {}
#: Set while the embedded AWS stops: executions end at their next state instead of running on
#: into the next embedded AWS of the process (whose backends are fresh, its threads not).
_STOPPING = threading.Event()
_THREADS: set[threading.Thread] = set()


class StatesError(Exception):
    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Resumable:
    """Where an unsuccessful (child) execution stopped: redrive continues there."""

    failed_state: str | None = None
    failed_input: Any = None


@dataclass
class Child(Resumable):
    arn: str = ""
    name: str = ""
    map_run_arn: str = ""
    input: Any = None
    status: str = "PENDING"
    start: datetime | None = None
    stop: datetime | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    redrive_count: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


class _ChildScope:
    """A Map item's view of its execution: the parent's role and clients, its own history (a
    child execution's events are not in its parent's history on AWS)."""

    def __init__(self, parent: ExecutionRecord, child: Child) -> None:
        self._parent, self._child = parent, child

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parent, name)

    def event(self, kind: str, **details: Any) -> None:
        _append(self._child.history, kind, details)


def _append(history: list[dict[str, Any]], kind: str, details: dict[str, Any]) -> None:
    with _LOCK:
        entry = {"timestamp": _now(), "type": kind, "id": len(history) + 1, "previousEventId": len(history)}
        if details:
            entry[_details_key(kind)] = details
        history.append(entry)


@dataclass
class MapRun:
    arn: str
    execution_arn: str
    state: str
    max_concurrency: int
    tolerated_percent: float
    tolerated_count: int
    start: datetime = field(default_factory=_now)
    stop: datetime | None = None
    status: str = "RUNNING"
    children: list[Child] = field(default_factory=list)
    redrive_count: int = 0


@dataclass
class ExecutionRecord(Resumable):
    arn: str = ""
    name: str = ""
    account: str = ""
    region: str = ""
    state_machine_arn: str = ""
    state_machine_name: str = ""
    role_arn: str = ""
    definition: dict[str, Any] = field(default_factory=dict)
    input: Any = None
    moto: Any = None  # moto's Execution (status, output, dates)
    start: datetime = field(default_factory=_now)
    history: list[dict[str, Any]] = field(default_factory=list)
    map_runs: dict[str, MapRun] = field(default_factory=dict)  # by Map state name
    redrive_count: int = 0
    redrive_date: datetime | None = None
    error: str | None = None
    cause: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _principal_key: str = ""

    def event(self, kind: str, **details: Any) -> None:
        _append(self.history, kind, details)

    # -- the state machine role's clients ---------------------------------------------------
    def client(self, service: str) -> Any:
        with _LOCK:
            found = self._clients.get(service)
        if found is not None:
            return found
        import boto3
        from botocore.config import Config

        from charter.local.running import _ENDPOINT

        key, secret, token = _role_credentials(self.account, self.role_arn, self.region)
        self._principal_key = key
        made = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                                     region_name=self.region).client(
            service, endpoint_url=_ENDPOINT[-1],
            # Step Functions itself does not retry a task's call: its Retry field does
            config=Config(read_timeout=960, connect_timeout=10, retries={"max_attempts": 1, "mode": "standard"}))
        with _LOCK:
            self._clients[service] = made
        return made

    def may(self, action: str, resource: str) -> str | None:
        """None when the role may `action` on `resource` (permissions enforced), else why not."""
        from charter.local import enforcement

        if not enforcement.enabled():
            return None
        self.client("sts")  # makes the role's credentials
        principal = enforcement.principal_for(self._principal_key)
        decision, _req = enforcement.decide(principal, action, resource, self.region)
        return None if decision.allowed else (f"User: {principal.arn} is not authorized to perform: {action} on "
                                              f"resource: {resource}")


def _details_key(kind: str) -> str:
    """The history event's details member, as AWS names it."""
    if kind.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if kind.endswith("StateExited"):
        return "stateExitedEventDetails"
    return kind[0].lower() + kind[1:] + "EventDetails"


def _role_credentials(account: str, role_arn: str, region: str) -> tuple[str, str, str]:
    """The role's credentials as states.amazonaws.com gets them (its trust policy decides when
    permissions are enforced)."""
    from charter.local import enforcement

    if enforcement.enabled():
        return enforcement.service_credentials(account, role_arn, "states.amazonaws.com", region)
    from moto.sts.models import sts_backends

    role = sts_backends[account]["aws"].assume_role(region_name=region, role_session_name="states",
                                                    role_arn=role_arn, policy=None, duration=3600, external_id=None)
    return role.access_key_id, role.secret_access_key, role.session_token


# -- paths --------------------------------------------------------------------------------

def _segments(path: str) -> list[str | int]:
    out: list[str | int] = []
    for part in path.split(".")[1:]:
        while "[" in part:
            head, _, rest = part.partition("[")
            if head:
                out.append(head)
            index, _, part = rest.partition("]")
            out.append(int(index))
        if part:
            out.append(part)
    return out


def select(data: Any, path: str | None, ctx: dict[str, Any]) -> Any:
    if path is None:
        return {}
    if path.startswith("States."):
        raise StatesError("States.Runtime", f"the embedded AWS does not evaluate intrinsic functions ({path})")
    root, rest = (ctx, path[1:]) if path.startswith("$$") else (data, path)
    value = root
    for seg in _segments(rest):
        try:
            value = value[seg]
        except (KeyError, IndexError, TypeError):
            raise StatesError("States.Runtime", f"The JSONPath '{path}' could not be found in the input "
                                                f"'{json.dumps(data, default=str)[:500]}'") from None
    return value


def parameters(template: Any, data: Any, ctx: dict[str, Any]) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = select(data, value, ctx)
            else:
                out[key] = parameters(value, data, ctx)
        return out
    if isinstance(template, list):
        return [parameters(v, data, ctx) for v in template]
    return template


def put(data: Any, path: str | None, result: Any) -> Any:
    """ResultPath: None discards the result, `$` replaces the input, `$.a.b` sets a field."""
    if path is None:
        return data
    if path == "$":
        return result
    out = copy.deepcopy(data) if isinstance(data, dict) else {}
    node = out
    segs = [s for s in _segments(path) if isinstance(s, str)]
    for seg in segs[:-1]:
        node = node.setdefault(seg, {})
    node[segs[-1]] = result
    return out


def _matches(names: list[str], error: str) -> bool:
    if error in names:
        return True
    if "States.ALL" in names:
        return True
    return "States.TaskFailed" in names and error != "States.Timeout"


# -- running -----------------------------------------------------------------------------

def walk(rec: ExecutionRecord, states: dict[str, Any], start: str, data: Any, ctx: dict[str, Any],
         sink: Resumable, resume: bool = False) -> Any:
    """Run states from `start` until one ends; an unsuccessful state is recorded in `sink`."""
    name = start
    while True:
        if _STOPPING.is_set():
            raise StatesError("States.Runtime", "the embedded AWS stopped during this execution")
        state = states.get(name)
        if state is None:
            raise StatesError("States.Runtime", f"no state named {name}")
        try:
            data, following = run_state(rec, name, state, data, ctx, resume=resume)
        except StatesError:
            sink.failed_state, sink.failed_input = name, data
            raise
        resume = False
        if following is None:
            sink.failed_state = sink.failed_input = None
            return data
        name = following


def run_state(rec: ExecutionRecord, name: str, st: dict[str, Any], data: Any, ctx: dict[str, Any],
              resume: bool = False) -> tuple[Any, str | None]:
    kind = st.get("Type")
    prefix = {"Task": "Task", "Map": "Map", "Pass": "Pass", "Fail": "Fail", "Succeed": "Succeed"}.get(kind)
    if prefix is None:
        raise StatesError("States.Runtime", f"the embedded AWS does not run {kind} states (state {name})")
    rec.event(f"{prefix}StateEntered", name=name, input=json.dumps(data, default=str))
    following = None if st.get("End") or kind in ("Succeed", "Fail") else st.get("Next")
    if kind == "Fail":
        error = select(data, st["ErrorPath"], ctx) if "ErrorPath" in st else st.get("Error", "States.Fail")
        cause = select(data, st["CausePath"], ctx) if "CausePath" in st else st.get("Cause", "")
        raise StatesError(str(error), str(cause))
    effective = select(data, st.get("InputPath", "$"), ctx)
    if kind == "Succeed":
        out = select(effective, st.get("OutputPath", "$"), ctx)
        rec.event("SucceedStateExited", name=name, output=json.dumps(out, default=str))
        return out, None
    if "Parameters" in st and kind != "Map":
        effective = parameters(st["Parameters"], effective, ctx)
    try:
        if kind == "Pass":
            result = st.get("Result", effective)
        elif kind == "Task":
            result = _with_retry(rec, st, lambda: _task(rec, st, effective))
        else:
            result = run_map(rec, name, st, effective, ctx, resume=resume)
    except StatesError as exc:
        for catcher in st.get("Catch", []):
            if _matches(catcher.get("ErrorEquals", []), exc.error):
                caught = put(data, catcher.get("ResultPath", "$"), {"Error": exc.error, "Cause": exc.cause})
                rec.event(f"{prefix}StateExited", name=name, output=json.dumps(caught, default=str))
                return caught, catcher["Next"]
        raise
    if "ResultSelector" in st:
        result = parameters(st["ResultSelector"], result, ctx)
    out = select(put(data, st.get("ResultPath", "$"), result), st.get("OutputPath", "$"), ctx)
    rec.event(f"{prefix}StateExited", name=name, output=json.dumps(out, default=str))
    return out, following


def _with_retry(rec: ExecutionRecord, st: dict[str, Any], call: Any) -> Any:
    attempts: dict[int, int] = {}
    while True:
        try:
            return call()
        except StatesError as exc:
            for i, rule in enumerate(st.get("Retry", [])):
                if _matches(rule.get("ErrorEquals", []), exc.error):
                    n = attempts.get(i, 0)
                    if n >= rule.get("MaxAttempts", 3):
                        raise
                    attempts[i] = n + 1
                    delay = rule.get("IntervalSeconds", 1) * rule.get("BackoffRate", 2.0) ** n
                    time.sleep(min(delay, rule.get("MaxDelaySeconds", delay)))
                    break
            else:
                raise


def _task(rec: ExecutionRecord, st: dict[str, Any], params: Any) -> Any:
    import botocore.exceptions

    resource = st.get("Resource", "")
    if resource != LAMBDA_INVOKE:
        raise StatesError("States.Runtime", f"the embedded AWS runs only {LAMBDA_INVOKE} tasks, not {resource}")
    function = params.get("FunctionName")
    rec.event("TaskScheduled", resourceType="lambda", resource="invoke", region=rec.region,
              parameters=json.dumps(params, default=str)[:32_000])
    try:
        answer = rec.client("lambda").invoke(FunctionName=function, Payload=json.dumps(params.get("Payload", {})).encode())
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "ServiceException").removesuffix("Exception") + "Exception"
        raise StatesError(f"Lambda.{code}", error.get("Message", str(exc))) from None
    except (botocore.exceptions.BotoCoreError, KeyError) as exc:
        raise StatesError("Lambda.SdkClientException", str(exc)) from None
    body = answer["Payload"].read()
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = body.decode(errors="replace")
    if answer.get("FunctionError"):
        error = payload.get("errorType") if isinstance(payload, dict) else None
        rec.event("TaskFailed", resourceType="lambda", resource="invoke", error=error or "Lambda.Unknown",
                  cause=body.decode(errors="replace")[:32_000])
        raise StatesError(error or "Lambda.Unknown", body.decode(errors="replace"))
    rec.event("TaskSucceeded", resourceType="lambda", resource="invoke", output=body.decode(errors="replace")[:32_000])
    return {"ExecutedVersion": answer.get("ExecutedVersion", "$LATEST"), "Payload": payload,
            "StatusCode": answer.get("StatusCode", 200),
            "SdkHttpMetadata": {"HttpStatusCode": answer.get("StatusCode", 200)},
            "SdkResponseMetadata": {"RequestId": answer.get("ResponseMetadata", {}).get("RequestId", "")}}


def _items(rec: ExecutionRecord, st: dict[str, Any], data: Any, ctx: dict[str, Any]) -> list[Any]:
    import botocore.exceptions

    reader = st.get("ItemReader")
    if reader is None:
        items = select(data, st.get("ItemsPath", "$"), ctx)
    else:
        if reader.get("Resource") != S3_GET_OBJECT or reader.get("ReaderConfig", {}).get("InputType") != "JSON":
            raise StatesError("States.Runtime", "the embedded AWS reads Map items only from an S3 JSON object")
        where = parameters(reader.get("Parameters", {}), data, ctx)
        try:
            body = rec.client("s3").get_object(Bucket=where["Bucket"], Key=where["Key"])["Body"].read()
            items = json.loads(body)
        except botocore.exceptions.ClientError as exc:
            raise StatesError("States.ItemReaderFailed", f"Attempting to read s3://{where['Bucket']}/{where['Key']} "
                                                          f"failed: {exc.response.get('Error', {}).get('Message')}") from None
        except ValueError as exc:
            raise StatesError("States.ItemReaderFailed", f"the object is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise StatesError("States.Runtime", "the Map's items are not a JSON array")
    return items


def run_map(rec: ExecutionRecord, name: str, st: dict[str, Any], data: Any, ctx: dict[str, Any],
            resume: bool = False) -> list[Any]:
    processor = st.get("ItemProcessor") or st.get("Iterator") or {}
    distributed = processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    label = st.get("Label", name)
    run = rec.map_runs.get(name) if resume else None
    if run is None:
        items = _items(rec, st, data, ctx)
        if distributed:
            refused = rec.may("states:StartExecution", rec.state_machine_arn)
            if refused:
                raise StatesError("States.Runtime", f"the Map Run could not start its child executions: {refused}")
        selector = st.get("ItemSelector") or st.get("Parameters")
        run = MapRun(arn=f"arn:aws:states:{rec.region}:{rec.account}:mapRun:{rec.state_machine_name}/{label}:"
                         f"{uuid.uuid4()}", execution_arn=rec.arn, state=name,
                     max_concurrency=int(st.get("MaxConcurrency") or 0),
                     tolerated_percent=float(st.get("ToleratedFailurePercentage", 0)),
                     tolerated_count=int(st.get("ToleratedFailureCount", 0)))
        for i, item in enumerate(items):
            child_input = parameters(selector, data, {**ctx, "Map": {"Item": {"Index": i, "Value": item}}}) \
                if selector else item
            child_id = str(uuid.uuid4())
            child = Child(arn=f"arn:aws:states:{rec.region}:{rec.account}:execution:{rec.state_machine_name}/{label}:"
                              f"{child_id}", name=child_id, map_run_arn=run.arn, input=child_input)
            run.children.append(child)
        with _LOCK:
            rec.map_runs[name] = run
            _MAP_RUNS[run.arn] = run
            if distributed:
                _CHILDREN.update({c.arn: c for c in run.children})
        rec.event("MapRunStarted", mapRunArn=run.arn)
    else:
        run.redrive_count += 1
        run.status, run.stop = "RUNNING", None
        rec.event("MapRunRedriven", mapRunArn=run.arn, redriveCount=run.redrive_count)

    def one(child: Child) -> None:
        again = child.status in ("FAILED", "ABORTED", "TIMED_OUT") and child.failed_state is not None
        if again:
            child.redrive_count += 1
        child.status, child.start, child.stop = "RUNNING", child.start or _now(), None
        child_ctx = {**ctx, "Execution": {**ctx["Execution"], "Id": child.arn, "Name": child.name,
                                          "Input": child.input}}
        # a distributed Map's item is a child execution with its own history; an inline one's
        # events are its parent's
        scope: Any = _ChildScope(rec, child) if distributed else rec
        if distributed:
            scope.event("ExecutionRedriven" if again else "ExecutionStarted",
                        **({"redriveCount": child.redrive_count} if again else {"input": json.dumps(child.input)}))
        try:
            start, value = (child.failed_state, child.failed_input) if again else (processor["StartAt"], child.input)
            child.output = walk(scope, processor["States"], start, value, child_ctx, child, resume=again)
            child.status, child.error, child.cause = "SUCCEEDED", None, None
            if distributed:
                scope.event("ExecutionSucceeded", output=json.dumps(child.output, default=str))
        except StatesError as exc:
            child.status, child.error, child.cause = "FAILED", exc.error, exc.cause
            if distributed:
                scope.event("ExecutionFailed", error=exc.error, cause=exc.cause[:32_000])
        except Exception as exc:  # noqa: BLE001 - a bug here fails the item, as a service error would
            log.exception("map item failed")
            child.status, child.error, child.cause = "FAILED", "States.Runtime", f"{type(exc).__name__}: {exc}"
        child.stop = _now()

    todo = [c for c in run.children if c.status != "SUCCEEDED"]
    width = min(run.max_concurrency or len(todo) or 1, LOCAL_SLOTS) or 1
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="charter-sfn-map") as pool:
        list(pool.map(one, todo))
    failed = [c for c in run.children if c.status != "SUCCEEDED"]
    run.stop = _now()
    total = len(run.children) or 1
    over = bool(failed) and (100.0 * len(failed) / total > run.tolerated_percent) and len(failed) > run.tolerated_count
    if over and not distributed and "ToleratedFailurePercentage" not in st and "ToleratedFailureCount" not in st:
        run.status = "FAILED"
        rec.event("MapRunFailed", mapRunArn=run.arn)
        raise StatesError(failed[0].error or "States.Runtime", failed[0].cause or "")
    if over:
        run.status = "FAILED"
        rec.event("MapRunFailed", mapRunArn=run.arn, error="States.ExceedToleratedFailureThreshold")
        raise StatesError("States.ExceedToleratedFailureThreshold",
                          f"The specified tolerated failure threshold was exceeded: {len(failed)} of "
                          f"{len(run.children)} items failed")
    run.status = "SUCCEEDED"
    rec.event("MapRunSucceeded", mapRunArn=run.arn)
    return [c.output for c in run.children]


def execute(rec: ExecutionRecord, redrive: bool = False) -> None:
    """Run (or continue) an execution to its end, updating moto's Execution as it goes."""
    ctx = {"Execution": {"Id": rec.arn, "Name": rec.name, "Input": rec.input, "StartTime": rec.start.isoformat(),
                         "RoleArn": rec.role_arn, "RedriveCount": rec.redrive_count},
           "StateMachine": {"Id": rec.state_machine_arn, "Name": rec.state_machine_name}}
    definition = rec.definition
    try:
        if redrive:
            start, data = rec.failed_state, rec.failed_input
        else:
            rec.event("ExecutionStarted", input=json.dumps(rec.input, default=str), roleArn=rec.role_arn)
            start, data = definition["StartAt"], rec.input
        output = walk(rec, definition["States"], start, data, ctx, rec, resume=redrive)
    except StatesError as exc:
        _finish(rec, "FAILED", error=exc.error, cause=exc.cause)
        rec.event("ExecutionFailed", error=exc.error, cause=exc.cause[:32_000])
        return
    except Exception as exc:  # noqa: BLE001 - the embedded AWS's own failure fails the execution
        log.exception("execution %s", rec.arn)
        if rec.failed_state is None:
            rec.failed_state, rec.failed_input = definition.get("StartAt"), rec.input
        _finish(rec, "FAILED", error="States.Runtime", cause=f"{type(exc).__name__}: {exc}")
        rec.event("ExecutionFailed", error="States.Runtime", cause=str(exc))
        return
    _finish(rec, "SUCCEEDED", output=output)
    rec.event("ExecutionSucceeded", output=json.dumps(output, default=str))


def _finish(rec: ExecutionRecord, status: str, *, output: Any = None, error: str | None = None,
            cause: str | None = None) -> None:
    rec.error, rec.cause = error, cause
    ex = rec.moto
    ex.output = json.dumps(output) if status == "SUCCEEDED" else None
    ex.error, ex.cause = error, cause
    ex.stop_date = _now()
    ex.status = status


def _start(rec: ExecutionRecord, redrive: bool = False) -> None:
    thread = threading.Thread(target=_run, args=(rec, redrive), name=f"charter-sfn-{rec.name}", daemon=True)
    with _LOCK:
        _THREADS.add(thread)
    thread.start()


def _run(rec: ExecutionRecord, redrive: bool) -> None:
    try:
        execute(rec, redrive)
    finally:
        with _LOCK:
            _THREADS.discard(threading.current_thread())


def request_stop() -> None:
    """End every running execution at its next state (the embedded AWS is stopping)."""
    _STOPPING.set()


def join(timeout: float = 60.0) -> None:
    """Wait for the executions `request_stop` ended, then forget them all."""
    with _LOCK:
        threads = list(_THREADS)
    for thread in threads:
        thread.join(timeout)
    with _LOCK:
        _EXECUTIONS.clear()
        _CHILDREN.clear()
        _MAP_RUNS.clear()
    _STOPPING.clear()


# -- moto's API ----------------------------------------------------------------------------

class ExecutionNotRedrivable(Exception):
    pass


def _redrive_status(rec: ExecutionRecord) -> tuple[str, str | None]:
    status = rec.moto.status
    if status in ("FAILED", "ABORTED", "TIMED_OUT"):
        return "REDRIVABLE", None
    return "NOT_REDRIVABLE", f"Execution is {status} and cannot be redriven"


def run_state_machine_executions() -> None:
    """Patch moto: StartExecution runs the definition; DescribeExecution, GetExecutionHistory,
    ListExecutions (mapRunArn), ListMapRuns, DescribeMapRun and RedriveExecution answer from it."""
    from moto.core.exceptions import AWSError
    from moto.core.responses import ActionResult
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    from charter.local.running import _ENDPOINT

    class NotRedrivable(AWSError):
        TYPE = "ExecutionNotRedrivable"
        STATUS = 400

    class DoesNotExist(AWSError):
        TYPE = "ExecutionDoesNotExist"
        STATUS = 400

    class ResourceNotFound(AWSError):
        TYPE = "ResourceNotFound"
        STATUS = 400

    original_start = StepFunctionBackend.start_execution

    def start_execution(self, state_machine_arn, name, execution_input):
        execution = original_start(self, state_machine_arn, name, execution_input)
        if not _ENDPOINT:  # in-process moto without a server: nothing the tasks could call
            return execution
        machine = self.describe_state_machine(state_machine_arn)
        try:
            definition = json.loads(machine.definition)
            data = json.loads(execution_input or "{}")
        except ValueError as exc:
            execution.status, execution.error, execution.cause = "FAILED", "States.Runtime", str(exc)
            execution.stop_date = _now()
            return execution
        rec = ExecutionRecord(arn=execution.execution_arn, name=execution.name, account=self.account_id,
                              region=self.region_name, state_machine_arn=machine.arn, state_machine_name=machine.name,
                              role_arn=machine.roleArn, definition=definition, input=data, moto=execution)
        with _LOCK:
            _EXECUTIONS[rec.arn] = rec
        _start(rec)
        return execution

    StepFunctionBackend.start_execution = start_execution

    original_describe = StepFunctionResponse.describe_execution

    def describe_execution(self):
        arn = self._get_param("executionArn")
        child = _CHILDREN.get(arn)
        if child is not None:
            run = _MAP_RUNS[child.map_run_arn]
            out = {"executionArn": arn, "name": child.name, "status": child.status, "mapRunArn": run.arn,
                   "stateMachineArn": _EXECUTIONS[run.execution_arn].state_machine_arn,
                   "input": json.dumps(child.input), "startDate": child.start or run.start,
                   "redriveCount": child.redrive_count}
            if child.stop:
                out["stopDate"] = child.stop
            if child.status == "SUCCEEDED":
                out["output"] = json.dumps(child.output)
            if child.error:
                out["error"], out["cause"] = child.error, child.cause or ""
            return ActionResult(out)
        rec = _EXECUTIONS.get(arn)
        if rec is None:
            return original_describe(self)
        ex = rec.moto
        out = {"executionArn": arn, "name": ex.name, "status": ex.status, "stateMachineArn": rec.state_machine_arn,
               "input": ex.execution_input, "startDate": ex.start_date, "redriveCount": rec.redrive_count}
        status, reason = _redrive_status(rec)
        out["redriveStatus"] = status
        if reason:
            out["redriveStatusReason"] = reason
        if rec.redrive_date:
            out["redriveDate"] = rec.redrive_date
        if ex.status != "RUNNING" and ex.stop_date:
            out["stopDate"] = ex.stop_date
        if ex.status == "SUCCEEDED":
            out["output"] = ex.output
        if ex.status == "FAILED":
            out["error"], out["cause"] = rec.error or "", rec.cause or ""
        return ActionResult(out)

    StepFunctionResponse.describe_execution = describe_execution

    original_history = StepFunctionResponse.get_execution_history

    def get_execution_history(self):
        arn = self._get_param("executionArn")
        rec = _EXECUTIONS.get(arn)
        child = _CHILDREN.get(arn)
        if rec is None and child is None:
            return original_history(self)
        events = list(child.history if child is not None else rec.history)
        if self._get_param("reverseOrder"):
            events.reverse()
        return ActionResult({"events": events})

    StepFunctionResponse.get_execution_history = get_execution_history

    original_list = StepFunctionResponse.list_executions

    def list_executions(self):
        map_run = self._get_param("mapRunArn")
        if not map_run:
            return original_list(self)
        run = _MAP_RUNS.get(map_run)
        if run is None:
            raise ResourceNotFound(f"Map Run does not exist: {map_run}")
        wanted = self._get_param("statusFilter")
        machine = _EXECUTIONS[run.execution_arn].state_machine_arn
        return ActionResult({"executions": [
            {"executionArn": c.arn, "stateMachineArn": machine, "name": c.name, "status": c.status,
             "startDate": c.start or run.start, "mapRunArn": run.arn, "redriveCount": c.redrive_count,
             **({"stopDate": c.stop} if c.stop else {})}
            for c in run.children if c.status != "PENDING" and (not wanted or c.status == wanted)]})

    StepFunctionResponse.list_executions = list_executions

    def list_map_runs(self):
        arn = self._get_param("executionArn")
        rec = _EXECUTIONS.get(arn)
        if rec is None:
            raise DoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return ActionResult({"mapRuns": [{"executionArn": arn, "mapRunArn": r.arn,
                                          "stateMachineArn": rec.state_machine_arn, "startDate": r.start,
                                          **({"stopDate": r.stop} if r.stop else {})}
                                         for r in rec.map_runs.values()]})

    def describe_map_run(self):
        arn = self._get_param("mapRunArn")
        run = _MAP_RUNS.get(arn)
        if run is None:
            raise ResourceNotFound(f"Map Run does not exist: {arn}")
        counts: dict[str, int] = {}
        for c in run.children:
            counts[c.status.lower()] = counts.get(c.status.lower(), 0) + 1
        tally = {k: counts.get(k, 0) for k in ("pending", "running", "succeeded", "failed", "timed_out", "aborted")}
        tally = {("timedOut" if k == "timed_out" else k): v for k, v in tally.items()}
        tally |= {"total": len(run.children), "resultsWritten": 0, "failuresNotRedrivable": 0, "pendingRedrive": 0}
        out = {"mapRunArn": run.arn, "executionArn": run.execution_arn, "status": run.status, "startDate": run.start,
               "maxConcurrency": run.max_concurrency, "toleratedFailurePercentage": run.tolerated_percent,
               "toleratedFailureCount": run.tolerated_count, "itemCounts": tally, "executionCounts": tally,
               "redriveCount": run.redrive_count}
        if run.stop:
            out["stopDate"] = run.stop
        return ActionResult(out)

    def redrive_execution(self):
        arn = self._get_param("executionArn")
        rec = _EXECUTIONS.get(arn)
        if rec is None:
            raise DoesNotExist(f"Execution Does Not Exist: '{arn}'")
        status, reason = _redrive_status(rec)
        if status != "REDRIVABLE" or rec.failed_state is None:
            raise NotRedrivable(reason or f"Execution {arn} has no unsuccessful state to redrive")
        rec.redrive_count += 1
        rec.redrive_date = _now()
        ex = rec.moto
        ex.status, ex.stop_date, ex.error, ex.cause = "RUNNING", None, None, None
        rec.event("ExecutionRedriven", redriveCount=rec.redrive_count)
        _start(rec, redrive=True)
        return ActionResult({"redriveDate": rec.redrive_date})

    StepFunctionResponse.list_map_runs = list_map_runs
    StepFunctionResponse.describe_map_run = describe_map_run
    StepFunctionResponse.redrive_execution = redrive_execution
