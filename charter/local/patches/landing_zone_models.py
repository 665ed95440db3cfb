"""CloudFormation types of the landing zone (CloudTrail, GuardDuty, Security Hub, Config, S3
bucket policies) that moto's API implements but its CloudFormation skips."""

from __future__ import annotations

import json

from charter.local.patches.cfn_model import cfn_model


def add_resource_models() -> None:
    """CloudFormation types moto's API implements but its CloudFormation skips (it creates
    nothing and crashes on a Fn::GetAtt of them). Each is created through moto's own backend,
    so the resource is then visible through the service API, as after a real deploy."""
    from types import SimpleNamespace

    from moto.cloudformation import parsing
    from moto.cloudtrail.models import Trail, cloudtrail_backends
    from moto.config.models import config_backends
    from moto.guardduty.models import guardduty_backends
    from moto.s3.models import s3_backends
    from moto.securityhub.models import securityhub_backends

    def trail(p, account, region, name):
        t = cloudtrail_backends[account][region].create_trail(
            p.get("TrailName") or name, p["S3BucketName"],
            p.get("S3KeyPrefix"), p.get("SnsTopicName"), str(p.get("IncludeGlobalServiceEvents", True)).lower() == "true",
            str(p.get("IsMultiRegionTrail", False)).lower() == "true",
            str(p.get("EnableLogFileValidation", False)).lower() == "true",
            str(p.get("IsOrganizationTrail", False)).lower() == "true", p.get("CloudWatchLogsLogGroupArn"),
            p.get("CloudWatchLogsRoleArn"), p.get("KMSKeyId"), p.get("Tags", []))
        if p.get("EventSelectors") or p.get("AdvancedEventSelectors"):
            t.put_event_selectors(p.get("EventSelectors") or [], p.get("AdvancedEventSelectors") or [])
        if p.get("InsightSelectors"):
            t.put_insight_selectors(p["InsightSelectors"])
        if str(p.get("IsLogging", True)).lower() == "true":
            t.start_logging()
        return t

    def detector(p, account, region, name):
        # as GuardDuty's API holds them (camelCase): GetDetector answers them as they are stored
        features = [{"name": f["Name"], "status": f.get("Status", "ENABLED"),
                     "additionalConfiguration": [{"name": a["Name"], "status": a.get("Status", "ENABLED")}
                                                 for a in f.get("AdditionalConfiguration", [])]}
                    for f in p.get("Features", [])]
        tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
        backend = guardduty_backends[account][region]
        return backend.get_detector(backend.create_detector(
            str(p.get("Enable", True)).lower() == "true", p.get("FindingPublishingFrequency", "SIX_HOURS"),
            p.get("DataSources") or {}, tags, features))

    def hub(p, account, region, name):
        backend = securityhub_backends[account][region]
        backend.enable_security_hub(enable_default_standards=str(p.get("EnableDefaultStandards", False)).lower() == "true",
                                    tags=p.get("Tags") or {})
        return SimpleNamespace(arn=f"arn:aws:securityhub:{region}:{account}:hub/default")

    def recorder(p, account, region, name):
        backend = config_backends[account][region]
        name = p.get("Name") or "default"  # AWS's name when none is given
        group = p.get("RecordingGroup") or {"allSupported": True}
        backend.put_configuration_recorder({"name": name, "roleARN": p["RoleARN"], "recordingGroup": {
            k[0].lower() + k[1:]: v for k, v in group.items()}})
        return SimpleNamespace(id=name)

    def channel(p, account, region, name):
        backend = config_backends[account][region]
        name = p.get("Name") or "default"  # AWS's name when none is given
        props = p.get("ConfigSnapshotDeliveryProperties")
        backend.put_delivery_channel({k: v for k, v in {
            "name": name, "s3BucketName": p["S3BucketName"], "s3KeyPrefix": p.get("S3KeyPrefix"),
            "s3KmsKeyArn": p.get("S3KmsKeyArn"), "snsTopicARN": p.get("SnsTopicARN"),
            "configSnapshotDeliveryProperties": {"deliveryFrequency": props["DeliveryFrequency"]} if props else None,
        }.items() if v is not None})
        # AWS::Config::DeliveryChannel is the last piece; CloudFormation then starts recording
        for rec in list(backend.recorders):
            backend.start_configuration_recorder(rec)
        return SimpleNamespace(id=name)

    def bucket_policy(p, account, region, name):
        doc = p["PolicyDocument"]
        s3_backends[account]["aws"].put_bucket_policy(p["Bucket"], (doc if isinstance(doc, str) else json.dumps(doc)).encode())
        return SimpleNamespace(id=p["Bucket"])

    def bucket_anywhere(self):
        # S3 bucket names are global: an organization trail writes to the log-archive
        # account's bucket, which moto looked for in the trail's own account only
        from moto.cloudtrail.exceptions import S3BucketDoesNotExistException

        for account_id in list(s3_backends.keys()):
            if self.bucket_name in s3_backends[account_id][self.partition].buckets:
                return
        raise S3BucketDoesNotExistException(f"S3 bucket {self.bucket_name} does not exist!")

    def standard(p, account, region, name):
        from charter.local.answers import securityhub

        if not securityhub_backends[account][region].enabled:
            raise ValueError("Security Hub is not enabled in this account and region (AWS::SecurityHub::Hub first)")
        return SimpleNamespace(**{k[0].lower() + k[1:]: v for k, v in
                                  securityhub.subscribe(account, region, p["StandardsArn"]).items()})

    def unsubscribe(obj, account, region):
        from charter.local.answers import securityhub, state

        state.remove(securityhub.KIND, account, region, obj.standardsSubscriptionArn)

    def analyzer(p, account, region, name):
        from charter.local.answers import accessanalyzer

        tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
        made = accessanalyzer.create(account, region, p.get("AnalyzerName") or name, p["Type"], tags,
                                     p.get("AnalyzerConfiguration"))
        return SimpleNamespace(**made)

    def remove_analyzer(obj, account, region):
        from charter.local.answers import accessanalyzer, state

        state.remove(accessanalyzer.KIND, account, region, obj.name)

    Trail.check_bucket_exists = bucket_anywhere
    cfn_model("AWS::CloudTrail::Trail", trail, {"Arn": "arn", "SnsTopicArn": "sns_topic_arn"}, physical="trail_name")
    cfn_model("AWS::GuardDuty::Detector", detector, {"Id": "id"})
    cfn_model("AWS::SecurityHub::Hub", hub, {"ARN": "arn"}, physical="arn")
    cfn_model("AWS::Config::ConfigurationRecorder", recorder)
    cfn_model("AWS::Config::DeliveryChannel", channel)
    cfn_model("AWS::S3::BucketPolicy", bucket_policy)
    cfn_model("AWS::SecurityHub::Standard", standard, {"StandardsSubscriptionArn": "standardsSubscriptionArn"},
              physical="standardsSubscriptionArn", delete=unsubscribe)
    cfn_model("AWS::AccessAnalyzer::Analyzer", analyzer, {"Arn": "arn"}, physical="arn", delete=remove_analyzer)
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
