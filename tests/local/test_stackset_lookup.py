"""A StackSet lookup on one server thread survives another thread creating a StackSet
(moto's loop over its live dict raised, and the deploy saw an HTTP 500 it could not parse)."""

from __future__ import annotations

import pytest
from moto.cloudformation.models import CloudFormationBackend


class _Found:
    def __init__(self, name: str) -> None:
        self.name, self.status = name, "ACTIVE"


class _CreatedMeanwhile(_Found):
    """A StackSet whose name, read during the lookup, coincides with another request adding one."""

    def __init__(self, backend: CloudFormationBackend) -> None:
        super().__init__("")
        self.backend = backend

    @property
    def name(self) -> str:
        self.backend.stacksets[f"other-{len(self.backend.stacksets)}"] = _Found("other")
        return "busy"

    @name.setter
    def name(self, value: str) -> None:
        pass


def _backend() -> CloudFormationBackend:
    backend = CloudFormationBackend("us-east-1", "123456789012")
    backend.stacksets["id-busy"] = _CreatedMeanwhile(backend)
    backend.stacksets["id-wanted"] = _Found("wanted")
    return backend


def _lookups():
    """moto's own lookup and the embedded AWS's."""
    from charter.local.patches.stacksets import patch_stacksets

    patch_stacksets()
    patched = CloudFormationBackend.describe_stack_set
    return patched.moto_original, patched


def test_plain_moto_fails_the_lookup() -> None:
    moto_lookup, _ = _lookups()
    with pytest.raises(RuntimeError, match="mutated during iteration"):
        moto_lookup(_backend(), "wanted")


def test_the_embedded_aws_finds_the_stackset() -> None:
    _, lookup = _lookups()
    assert lookup(_backend(), "wanted").name == "wanted"
    with pytest.raises(Exception, match="StackSet"):
        lookup(_backend(), "missing")
