"""What the embedded AWS can do, as the `Capabilities` of the session factories it builds.

The embedded AWS states these itself (`LocalAws.sessions()`, and `GET /_charter/capabilities`
on a running server, which `aws_sessions(endpoint_url=...)` asks), so product code never
guesses from an endpoint URL whether it talks to AWS, a VPC endpoint or an emulator.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict

from charter.aws import Capabilities

#: The embedded AWS's fixed credentials (moto accepts any; these map to its default account).
CREDENTIALS = ("testing", "testing")
#: The path a running embedded AWS answers with its capabilities (JSON).
CAPABILITIES_PATH = "/_charter/capabilities"

EMBEDDED = Capabilities(
    embedded=True,
    # shipped Lambda code runs from its artifact (charter.local.lambda_runtime)
    runs_lambda_code=True,
    # operations finish in milliseconds here; polling at AWS's pace would only wait
    poll_interval=0.05,
    # moto has no DetectStackSetDrift
    drift_detection=False,
    # moto makes its own account ids
    config_account_ids=False,
    # no package index offline: the Lambda runtime supplies third-party packages from the host
    lambda_third_party="host",
    # one host:port for every service
    single_host=True,
    unsupported_operation_code="UnsupportedOperation",
    # no identity provider (SCIM) feeds its identity store
    identity_provider=False,
)


def as_json() -> bytes:
    return json.dumps(asdict(EMBEDDED), sort_keys=True).encode()


def advertised(endpoint_url: str, timeout: float = 5.0) -> Capabilities | None:
    """The capabilities a running embedded AWS at `endpoint_url` states, or None when the
    endpoint is something else (AWS behind a VPC endpoint or proxy, another emulator)."""
    try:
        with urllib.request.urlopen(endpoint_url.rstrip("/") + CAPABILITIES_PATH, timeout=timeout) as response:
            if response.status != 200:
                return None
            data = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("embedded"):
        return None
    known = {k: v for k, v in data.items() if k in Capabilities.__dataclass_fields__}
    return Capabilities(**known)
