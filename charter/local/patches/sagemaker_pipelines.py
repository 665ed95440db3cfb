"""SageMaker pipeline executions that run, and EventBridge rules that reach Lambda."""

from __future__ import annotations

import queue
import threading
from typing import Any

_start_lock = threading.Lock()


def run_pipeline_executions() -> None:
    """moto 5.2.1 records StartPipelineExecution as already "Succeeded" and runs nothing,
    ignores ClientRequestToken (AWS answers a repeated token with the same execution) and
    lacks ListPipelineExecutionSteps. Here an execution runs its Processing steps as local
    processes and emits SageMaker's events (`charter.local.pipelines`), a repeated token
    gets the first execution, and the steps are listed with their FailureReason."""
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse
    from moto.sagemaker.utils import get_pipeline_execution_from_arn, get_pipeline_from_name

    from charter.local import pipelines
    from charter.local.running import _ENDPOINT

    if getattr(SageMakerModelBackend.start_pipeline_execution, "_charter", False):
        return
    original = SageMakerModelBackend.start_pipeline_execution

    def start(self, pipeline_name, pipeline_execution_display_name, pipeline_parameters,
              pipeline_execution_description, parallelism_configuration, client_request_token):
        pipeline = get_pipeline_from_name(self.pipelines, pipeline_name)
        # One start at a time: requests arrive on many server threads, and the token lookup
        # and the new execution must be one step (else two retries of one submit both start
        # a run). Tokens are indexed per pipeline: a scan of its executions on every start
        # grew with every job run (a few percent of the server's CPU after a few thousand).
        tokens: dict[str, str] = pipeline.__dict__.setdefault("charter_tokens", {})
        with _start_lock:
            if client_request_token and client_request_token in tokens:
                return {"PipelineExecutionArn": tokens[client_request_token]}
            answer = original(self, pipeline_name, pipeline_execution_display_name, pipeline_parameters,
                              pipeline_execution_description, parallelism_configuration, client_request_token)
            execution = pipeline.pipeline_executions[answer["PipelineExecutionArn"]]
            if client_request_token:
                tokens[client_request_token] = answer["PipelineExecutionArn"]
        if _ENDPOINT:
            pipelines.start(execution, pipeline, self.account_id, self.region_name, _ENDPOINT[-1])
        return answer

    start._charter = True  # type: ignore[attr-defined]
    SageMakerModelBackend.start_pipeline_execution = start

    def list_steps(self, pipeline_execution_arn: str) -> dict[str, Any]:
        execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
        # newest first, as AWS lists them
        return {"PipelineExecutionSteps": [dict(s) for s in reversed(getattr(execution, "charter_steps", []))]}

    SageMakerModelBackend.list_pipeline_execution_steps = list_steps

    def list_steps_response(self):  # type: ignore[no-untyped-def]
        from moto.core.responses import ActionResult

        return ActionResult(self.sagemaker_backend.list_pipeline_execution_steps(
            self._get_param("PipelineExecutionArn")))

    SageMakerResponse.list_pipeline_execution_steps = list_steps_response

    describe = SageMakerModelBackend.describe_pipeline_execution

    def describe_with_reason(self, pipeline_execution_arn: str) -> dict[str, Any]:
        answer = describe(self, pipeline_execution_arn)
        execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
        answer["FailureReason"] = execution.pipeline_execution_failure_reason or ""
        return answer

    SageMakerModelBackend.describe_pipeline_execution = describe_with_reason


#: EventBridge delivers to Lambda asynchronously; one delivery thread keeps each rule's order.
_DELIVERIES: queue.Queue = queue.Queue()
_DELIVERER: list[threading.Thread] = []


def _deliver() -> None:
    from moto.awslambda.models import lambda_backends

    from charter.local import lambda_runtime
    from charter.local.running import _ENDPOINT

    while True:
        fn_arn, event = _DELIVERIES.get()
        try:
            parts = fn_arn.split(":")
            fn = lambda_backends[parts[4]][parts[3]].get_function(parts[6])
            if _ENDPOINT:
                lambda_runtime.invoke_function(fn, event, _ENDPOINT[-1])
        except Exception:  # noqa: BLE001 - EventBridge drops an event its target cannot take (no DLQ here)
            import logging

            logging.getLogger("charter.local").warning("EventBridge delivery to %s failed", fn_arn, exc_info=True)


def drop_deliveries() -> None:
    """Forget the events not yet delivered (the embedded AWS is stopping: their functions go
    with it, and a later embedded AWS of this process must not receive them)."""
    while True:
        try:
            _DELIVERIES.get_nowait()
        except queue.Empty:
            return


def lambda_targets() -> None:
    """moto 5.2.1 raises NotImplementedError for a rule whose target is a Lambda function
    (AWS invokes it asynchronously with the event). Here it is invoked from its artifact,
    in the order the events matched, by one delivery thread."""
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    if getattr(Rule.send_to_targets, "_charter", False):
        return
    original = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):  # type: ignore[no-untyped-def]
        if not self.event_pattern.matches_event(original_event):
            return None
        lambdas = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        if lambdas:
            if not _DELIVERER:
                _DELIVERER.append(threading.Thread(target=_deliver, name="eventbridge-lambda", daemon=True))
                _DELIVERER[0].start()
            for target in lambdas:
                _DELIVERIES.put((target["Arn"], dict(original_event)))
        others = [t for t in self.targets if t not in lambdas]
        if not others:
            return None
        kept = self.targets
        self.targets = others
        try:
            return original(self, original_event, transform_input)
        finally:
            self.targets = kept

    send_to_targets._charter = True  # type: ignore[attr-defined]
    Rule.send_to_targets = send_to_targets
