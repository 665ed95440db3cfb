"""CloudTrail: organization trails as member accounts see them, and a trail's selectors flags."""

from __future__ import annotations


def organization_trails_in_member_accounts() -> None:
    """A member account of an organization sees the organization's trails as AWS shows them:
    DescribeTrails with shadow trails lists each organization trail (multi-region: in every
    region; else in its home region), and GetTrailStatus, GetInsightSelectors and
    GetEventSelectors read it by its ARN (changing it stays the management account's).
    moto 5.2.1 showed a member account no trail at all, so every member account-region of a
    landing zone with an organization trail failed LOG-01 ("no trail covers this region").

    And a trail says whether it has Insights and custom event selectors
    (HasInsightSelectors, HasCustomEventSelectors): moto always said False, so a trail
    with Insights on read as "Insights off"."""
    from moto.cloudtrail.models import CloudTrailBackend, Trail, cloudtrail_backends
    from moto.organizations.models import organizations_backends

    original_describe = CloudTrailBackend.describe_trails
    original_get = CloudTrailBackend.get_trail
    original_description = Trail.description

    def organization_trails(self) -> list:
        home = organizations_backends.master_accounts.get(self.account_id)
        if home is None or home[0] == self.account_id:
            return []
        return [t for backend in cloudtrail_backends[home[0]].values() for t in backend.trails.values()
                if t.is_org_trail and (t.is_multi_region or t.region_name == self.region_name)]

    def describe_trails(self, include_shadow_trails: bool):
        trails = list(original_describe(self, include_shadow_trails))
        if include_shadow_trails:
            trails += [t for t in organization_trails(self) if t not in trails]
        return trails

    def get_trail(self, name_or_arn: str):
        try:
            return original_get(self, name_or_arn)
        except Exception:
            found = next((t for t in organization_trails(self) if t.arn == name_or_arn), None)
            if found is None:
                raise
            return found

    def description(self, include_region: bool = False):
        desc = original_description(self, include_region)
        desc["HasInsightSelectors"] = bool(getattr(self, "insight_selectors", None))
        desc["HasCustomEventSelectors"] = bool(getattr(self, "event_selectors", None)
                                               or getattr(self, "advanced_event_selectors", None))
        return desc

    CloudTrailBackend.describe_trails = describe_trails
    CloudTrailBackend.get_trail = get_trail
    Trail.description = description
