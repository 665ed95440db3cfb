"""The job record follows its pipeline execution: EventBridge rule target and reconciliation.

`handler` receives SageMaker's events for the job pipeline (rule in the sagemaker stack):

  "SageMaker Model Building Pipeline Execution Status Change"       Executing, Succeeded, Failed, Stopped
  "SageMaker Model Building Pipeline Execution Step Status Change"  Starting, Executing, Succeeded, Failed

and moves the job (`models.TRANSITIONS`; `JobStore.transition` refuses a move out of an
end state, so events arriving out of order or twice change nothing): a step executing is
RUNNING with the step's name and progress; a failed step is FAILED with
"<step>: <FailureReason>"; the execution's success is SUCCEEDED once the summary the
aggregator step wrote is under results/<job_id>/; a stopped execution is FAILED. Every
change is pushed to the job's WebSocket subscribers. The job id is the execution's `JobId` parameter.

`reconcile` (the daily cleanup, and the status API for a job it serves) fails a job whose
execution vanished or ended without its event reaching us, with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from . import aws, jobpipeline
from . import results as store
from .jobs import PROGRESS_DETAILS, Job, JobStore
from .models import TERMINAL
from .settings import Settings
from .websocket import notify

log = logging.getLogger("charter.workloads.jobstatus")
EXECUTION_EVENT = "SageMaker Model Building Pipeline Execution Status Change"
STEP_EVENT = "SageMaker Model Building Pipeline Execution Step Status Change"
#: A step's progress by its state (the job pipeline's steps: `workloads.handlers.jobpipeline`):
#: the optimization is nearly all of a job's time, the aggregation the rest.
STEP_PROGRESS = {jobpipeline.STEP: {"Starting": 0.1, "Executing": 0.2, "Succeeded": 0.8},
                 jobpipeline.AGGREGATE: {"Starting": 0.85, "Executing": 0.9, "Succeeded": 0.95}}


def job_id_of(execution_arn: str) -> str | None:
    params = aws.client("sagemaker").list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)
    return next((p["Value"] for p in params.get("PipelineParameters", []) if p["Name"] == "JobId"), None)


def _failed_step(execution_arn: str) -> str | None:
    """'<step>: <FailureReason>' of the execution's failed step, if one failed."""
    steps = aws.client("sagemaker").list_pipeline_execution_steps(PipelineExecutionArn=execution_arn)
    for step in steps.get("PipelineExecutionSteps", []):
        if step.get("StepStatus") == "Failed":
            return f"{step['StepName']}: {step.get('FailureReason') or 'failed'}"
    return None


def _succeeded(settings: Settings, jobs: JobStore, job: Job) -> Job | None:
    where = store.prefix(job.job_id)
    try:
        meta = store.read_json(settings.results_bucket, f"{where}summary.json")
    except Exception as exc:  # noqa: BLE001 - no summary: the step did not deliver its result
        return jobs.transition(job, "FAILED", message="failed", error=f"the pipeline succeeded but "
                               f"s3://{settings.results_bucket}/{where}summary.json is missing "
                               f"({aws.error_code(exc) or type(exc).__name__})")
    # the step ran isolated from the network, so the search's progress details arrive with its result
    search = (meta.get("summary") or {}).get("search") or {}
    details = {k: search[k] for k in PROGRESS_DETAILS if k != "step" and search.get(k) is not None}
    return jobs.transition(job, "SUCCEEDED", progress=1.0, message="done", step="done", result_prefix=where,
                           rows_total=int(meta["manifest"]["rows_total"]), error=None, **details)


def apply(event: dict[str, Any], settings: Settings | None = None) -> Job | None:
    """Move the job the event is about; the job after the move, None when nothing moved."""
    settings = settings or Settings.from_env()
    detail = event.get("detail") or {}
    arn = str(detail.get("pipelineExecutionArn") or "")
    if not arn:
        return None
    job_id = job_id_of(arn)
    jobs = JobStore(settings)
    job = jobs.get(job_id) if job_id else None
    if job is None:
        log.warning("event for execution %s names no known job (%s)", arn, job_id)
        return None
    kind = event.get("detail-type")
    if kind == STEP_EVENT:
        step, state = str(detail.get("stepName") or ""), str(detail.get("currentStepStatus") or "")
        if state == "Failed":
            reason = detail.get("failureReason") or "failed"
            return jobs.transition(job, "FAILED", message="failed", step=step, error=f"{step}: {reason}"[:2000])
        progress = STEP_PROGRESS.get(step, {}).get(state)
        if progress is not None:
            return jobs.transition(job, "RUNNING", step=step, message=f"step {step}: {state.lower()}",
                                   progress=max(float(job.progress), progress), execution_arn=arn)
        return None
    if kind == EXECUTION_EVENT:
        state = str(detail.get("currentPipelineExecutionStatus") or "")
        if state == "Executing":
            return jobs.transition(job, "RUNNING", message="running", execution_arn=arn,
                                   progress=max(float(job.progress), 0.05))
        if state == "Succeeded":
            return _succeeded(settings, jobs, job)
        if state in ("Failed", "Stopped"):
            why = _failed_step(arn) if state == "Failed" else None
            return jobs.transition(job, "FAILED", message="failed",
                                   error=why or f"the pipeline execution {state.lower()}"
                                   + (f": {detail['failureReason']}" if detail.get("failureReason") else ""))
    return None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    settings = Settings.from_env()
    job = apply(event, settings)
    if job is not None:
        notify(job, settings)
    return {"ok": True, "job_id": job.job_id if job else None, "status": job.status if job else None}


def reconcile(job: Job, settings: Settings, jobs: JobStore | None = None) -> Job | None:
    """A job not ended whose execution is gone or has ended: FAILED (or SUCCEEDED) as the
    execution says, with the reason. None when the execution is still going (or no change)."""
    if job.status in TERMINAL:
        return None
    jobs = jobs or JobStore(settings)
    if not job.execution_arn:
        return jobs.transition(job, "FAILED", message="failed",
                               error="the job has no pipeline execution (it never started); resubmit it")
    sm = aws.client("sagemaker")
    try:
        state = sm.describe_pipeline_execution(PipelineExecutionArn=job.execution_arn)["PipelineExecutionStatus"]
    except Exception as exc:  # noqa: BLE001 - the execution is gone, or we may not read it
        if aws.error_code(exc) not in ("ResourceNotFound", "ValidationException"):
            raise
        return jobs.transition(job, "FAILED", message="failed",
                               error=f"its pipeline execution {job.execution_arn} no longer exists; resubmit the job")
    if state == "Succeeded":
        return _succeeded(settings, jobs, job)
    if state in ("Failed", "Stopped"):
        return jobs.transition(job, "FAILED", message="failed",
                               error=(_failed_step(job.execution_arn) if state == "Failed" else None)
                               or f"the pipeline execution {state.lower()}")
    return None
