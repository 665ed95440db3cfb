"""CloudTrail as AWS describes a trail."""

from __future__ import annotations


def trail_reports_its_insight_selectors() -> None:
    """DescribeTrails' `HasInsightSelectors` is true once PutInsightSelectors gave the trail
    any: moto 5.2.1 always answers false, so a trail with Insights on looks like one without
    (LOG-01 judges Insights from that flag, as it must on AWS, to avoid a call per trail)."""
    from moto.cloudtrail import models as cloudtrail

    original = cloudtrail.Trail.description

    def description(self, include_region: bool = False):
        desc = original(self, include_region=include_region)
        desc["HasInsightSelectors"] = bool(self.insight_selectors)
        return desc

    cloudtrail.Trail.description = description
