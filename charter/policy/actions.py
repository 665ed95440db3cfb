"""The IAM action an API operation is authorized as (`s3control PutPublicAccessBlock` is
`s3:PutAccountPublicAccessBlock`). Mostly the service's IAM prefix and the operation's
name; the exceptions below are the ones AWS documents for the services Charter calls
("Actions, resources, and condition keys" in the Service Authorization Reference)."""

from __future__ import annotations

#: botocore service name or signing name -> IAM service prefix, where they differ.
PREFIXES = {"monitoring": "cloudwatch", "accessanalyzer": "access-analyzer", "email": "ses", "sso-admin": "sso", "s3control": "s3",
            "tagging": "tag", "stepfunctions": "states", "bedrock-agent": "bedrock", "bedrock-runtime": "bedrock",
            "bedrock-agent-runtime": "bedrock", "sagemaker-runtime": "sagemaker", "opensearchserverless": "aoss",
            "codestar-connections": "codestar-connections", "resourcegroupstaggingapi": "tag",
            "service-quotas": "servicequotas", "ce": "ce", "elbv2": "elasticloadbalancing"}

#: (IAM prefix or botocore service, operation) -> IAM action name, where they differ.
OPERATIONS = {
    ("s3control", "PutPublicAccessBlock"): "PutAccountPublicAccessBlock",
    ("s3control", "GetPublicAccessBlock"): "GetAccountPublicAccessBlock",
    ("s3control", "DeletePublicAccessBlock"): "DeleteAccountPublicAccessBlock",
    ("s3", "ListObjectsV2"): "ListBucket", ("s3", "ListObjects"): "ListBucket", ("s3", "HeadBucket"): "ListBucket",
    ("s3", "HeadObject"): "GetObject", ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "PutBucketEncryption"): "PutEncryptionConfiguration",
    ("s3", "GetBucketEncryption"): "GetEncryptionConfiguration",
    ("s3", "PutPublicAccessBlock"): "PutBucketPublicAccessBlock",
    ("s3", "GetPublicAccessBlock"): "GetBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "PutBucketPublicAccessBlock",
    ("s3", "PutBucketLifecycleConfiguration"): "PutLifecycleConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "GetLifecycleConfiguration",
    ("s3", "PutObjectLockConfiguration"): "PutBucketObjectLockConfiguration",
    ("s3", "GetObjectLockConfiguration"): "GetBucketObjectLockConfiguration",
    ("s3", "CreateMultipartUpload"): "PutObject", ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject", ("s3", "CopyObject"): "PutObject",
    ("s3", "DeleteObjects"): "DeleteObject", ("s3", "GetBucketReplication"): "GetReplicationConfiguration",
    ("s3", "PutBucketReplication"): "PutReplicationConfiguration",
    ("s3", "PutBucketNotificationConfiguration"): "PutBucketNotification",
    ("s3", "GetBucketNotificationConfiguration"): "GetBucketNotification",
    ("s3", "GetObjectRetention"): "GetObjectRetention", ("s3", "ListBuckets"): "ListAllMyBuckets",
    ("lambda", "Invoke"): "InvokeFunction", ("lambda", "InvokeAsync"): "InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
    ("lambda", "ListFunctions"): "ListFunctions",
    ("kms", "GenerateDataKeyWithoutPlaintext"): "GenerateDataKeyWithoutPlaintext",
    ("monitoring", "PutMetricData"): "PutMetricData",
    ("iam", "GetCredentialReport"): "GetCredentialReport",
}

#: Services whose IAM actions are the HTTP method (API Gateway's management API).
HTTP_METHOD_SERVICES = frozenset({"apigateway", "apigatewayv2"})


def iam_prefix(service: str) -> str:
    return PREFIXES.get(service, service)


def iam_action(service: str, operation: str, http_method: str | None = None) -> str:
    """`service` is botocore's service name (e.g. `s3control`, `sso-admin`)."""
    if service in HTTP_METHOD_SERVICES:
        return f"apigateway:{(http_method or 'GET').upper()}"
    name = OPERATIONS.get((service, operation), operation)
    return f"{iam_prefix(service)}:{name}"
