"""Reusable, compliant-by-construction resource builders shared by the landing-zone builders.

A component returns troposphere resources already carrying their control ids and passing
cfn-lint and checkov, so a builder cannot forget a baseline property (encryption, public
access block, TLS-only policy, access logging) when it needs, say, a bucket.
"""

from .s3 import BUCKET_CONTROLS, access_log_bucket, bucket_arns, secure_bucket, tls_only_statement

__all__ = ["BUCKET_CONTROLS", "access_log_bucket", "bucket_arns", "secure_bucket", "tls_only_statement"]
