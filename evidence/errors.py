"""Errors a user can cause around the evidence store (codes CHARTER-4xx).

A failed verification is not one of these: `charter evidence verify` reports findings and
exits 1. These are bad input (a store that does not exist, a corrupt package, a key that
is not a key): exit 2, with what is wrong, where, and how to fix it.
"""

from __future__ import annotations

from charter.errors import CharterError


class EvidenceError(CharterError):
    """Base class of evidence-store errors."""

    code = "CHARTER-400"
    fix = "Read the message: it names the store, run or file and how to fix it."


class StoreNotFoundError(EvidenceError):
    """The store (directory, bucket or prefix) does not exist or holds no evidence."""

    code = "CHARTER-401"
    fix = "Pass the store that `charter evidence collect` wrote (default .charter/evidence), or s3://bucket/prefix."


class StoreUrlError(EvidenceError):
    """A `--store` value that is neither a directory nor s3://bucket[/prefix]."""

    code = "CHARTER-402"
    fix = "Use a directory path or s3://bucket/prefix."


class PackageError(EvidenceError):
    """An export package (zip) that cannot be read."""

    code = "CHARTER-403"
    fix = "Re-download the package or re-run `charter evidence export`; check the file is the .zip it produced."


class SigningKeyError(EvidenceError):
    """A signing or verification key that is unreadable, of the wrong type, or the wrong key."""

    code = "CHARTER-404"
    fix = "Pass the public key exported with the store (keys/<fingerprint>.pem) or the KMS key the stack created."


class StoreWriteError(EvidenceError):
    """The store refused a write (write-once object already present, access denied, bucket missing)."""

    code = "CHARTER-405"
    fix = "Check the store's permissions; evidence is write-once, so never rewrite an existing object."


class EmptyOrganizationError(EvidenceError):
    """There is nothing to collect from (e.g. the embedded AWS holds no organization)."""

    code = "CHARTER-406"
    fix = "Deploy the organization first (`charter deploy --local -c org.yaml`), then collect."


class ExportError(EvidenceError):
    """An export request that cannot be met (bad dates, no runs in the period, failing store)."""

    code = "CHARTER-407"
    fix = "Use --from/--to as YYYY-MM-DD with from <= to, covering days on which evidence was collected."


class CollectError(EvidenceError):
    """Collection could not start (collectors not installed, unknown collector or account)."""

    code = "CHARTER-408"
    fix = "Run `charter evidence collectors` to list the collectors; check --accounts against org.yaml."


class CampaignSourceError(EvidenceError):
    """The access-review campaigns sealed in the evidence store could not be read, so IAM-09
    cannot be judged (a gap, not a failure: judging without them would miss closed quarters)."""

    code = "CHARTER-409"
    fix = "Check that the collector may list and read the evidence store (access-reviews/, manifests/, runs/), then collect again."
