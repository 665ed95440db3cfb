"""Costs of moto that grow with the organization, not wrong answers: each is a cache or a
deferral with the same results (tests/local/test_moto_patches.py shows each cost on plain moto)."""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict


def parse_each_template_once() -> None:
    """moto parses a stack's template (PyYAML's pure-Python loader) for every stack it
    creates or updates, and a StackSet's template is the same text for each of its hundreds
    of instances: a landing zone spent about a tenth of the embedded AWS's time there. Each
    text is parsed once; every stack gets its own deep copy (moto edits what it parsed)."""
    from moto.cloudformation.models import Stack

    original = Stack.parse_template
    if getattr(original, "charter_cached", False):
        return
    parsed: OrderedDict[str, object] = OrderedDict()
    lock = threading.Lock()

    def parse_template(template: str):
        key = hashlib.sha256(template.encode() if isinstance(template, str) else bytes(template)).hexdigest()
        with lock:
            hit = parsed.get(key)
            if hit is not None:
                parsed.move_to_end(key)
        if hit is not None:
            return copy.deepcopy(hit)
        result = original(template)
        with lock:
            parsed[key] = copy.deepcopy(result)
            while len(parsed) > 256:
                parsed.popitem(last=False)
        return result

    parse_template.charter_cached = True  # type: ignore[attr-defined]
    Stack.parse_template = staticmethod(parse_template)


class _LazyPrivateKey:
    """A KMS key's key material, made when it is first used (Sign, Verify, GetPublicKey)."""

    def __init__(self, make, key_spec: str) -> None:
        self._make, self._spec, self._key, self._lock = make, key_spec, None, threading.Lock()

    def __getattr__(self, name: str):
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self._make(self._spec)
        return getattr(self._key, name)


def make_kms_key_material_when_used() -> None:
    """moto generates a 2048-bit RSA private key for every KMS key it creates, symmetric ones
    included (about 0.1 s each; a landing zone makes a key per account and region). The key
    material is made when the key is first used to sign, verify or give its public key."""
    from moto.kms import models

    original = models.generate_private_key
    if isinstance(original, type) or getattr(original, "charter_lazy", False):
        return

    def generate_private_key(key_spec: str):
        return _LazyPrivateKey(original, key_spec)

    generate_private_key.charter_lazy = True  # type: ignore[attr-defined]
    models.generate_private_key = generate_private_key


def regions_once_per_service() -> None:
    """moto asks botocore for a service's regions once per account backend (the endpoint
    data reloaded for every account an organization adds): once per service is enough."""
    from moto.core.base_backend import AccountSpecificBackend

    original = AccountSpecificBackend._generate_regions
    if getattr(original, "charter_cached", False):
        return
    regions: dict[str, list[str]] = {}
    lock = threading.Lock()

    def generate_regions(self, service_name: str) -> list[str]:
        with lock:
            found = regions.get(service_name)
        if found is None:
            found = list(original.__wrapped__(self, service_name))
            with lock:
                regions[service_name] = found
        return list(found)

    generate_regions.charter_cached = True  # type: ignore[attr-defined]
    AccountSpecificBackend._generate_regions = generate_regions
