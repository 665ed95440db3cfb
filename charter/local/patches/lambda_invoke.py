"""Lambda's Invoke (and every moto path that invokes a function) runs the function's own
code through `charter.local.lambda_runtime`, not Docker."""

from __future__ import annotations

import json


def run_functions_from_their_artifacts() -> None:
    """moto 5.2.1 runs a function's code only in a Docker container (`_invoke_lambda`), so
    without Docker an Invoke failed ("error running docker") and nothing Charter ships ever
    ran. Here the function's zip and layers run in an interpreter of their own with its role,
    environment and timeout (see lambda_runtime); the answer, the FunctionError and the log
    tail are moto's own response handling."""
    from moto.awslambda.models import LambdaFunction

    from charter.local import enforcement, lambda_runtime
    from charter.local.running import _ENDPOINT

    original = LambdaFunction._invoke_lambda

    def _invoke_lambda(self, event=None):
        if not _ENDPOINT:  # no server: nothing the function could call
            return original(self, event)
        try:
            result = lambda_runtime.invoke_function(self, event if event is not None else {}, _ENDPOINT[-1])
        except enforcement.AccessDenied as exc:  # the role's trust policy does not admit Lambda
            return json.dumps({"errorMessage": exc.message, "errorType": "AccessDenied"}), True, exc.message
        tail = "\n".join(result.logs.splitlines()[-50:])
        return result.payload, result.errored, tail

    def invoke(self, body, request_headers, response_headers):
        answer = original_invoke(self, body, request_headers, response_headers)
        if response_headers.get("x-amz-function-error") == "Handled":
            # an exception the handler did not catch: AWS says Unhandled (moto said Handled)
            response_headers["x-amz-function-error"] = "Unhandled"
        return answer

    original_invoke = LambdaFunction.invoke
    LambdaFunction._invoke_lambda = _invoke_lambda
    LambdaFunction.invoke = invoke
