"""Errors a user can cause in an access review (codes CHARTER-5xx)."""

from __future__ import annotations

from charter.errors import CharterError


class AccessReviewError(CharterError):
    """An access-review step that cannot go ahead as asked."""

    code = "CHARTER-500"
    fix = "Follow the message; `charter access-review status` shows where the campaign stands."


class CampaignNotFoundError(AccessReviewError):
    """No campaign exists for the quarter named."""

    code = "CHARTER-501"
    fix = "Start the quarter's campaign with `charter access-review start --quarter YYYYQn`."


class WorkbookError(AccessReviewError):
    """A file that is not a readable Charter reviewer workbook."""

    code = "CHARTER-510"
    fix = "Send back the reviewer's own workbook with only the decision and comment columns filled."


class WorkbookRejected(AccessReviewError):
    """The workbook was read but its content is not acceptable; every bad row is named."""

    code = "CHARTER-511"
    fix = "Restore edited snapshot cells from the original workbook and fill every decision."

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:50]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{path}: workbook rejected, {len(problems)} problem(s):\n  " + "\n  ".join(shown) + more,
                         hint="only the decision and comment columns may change; every row needs keep, revoke or modify")


class CloseRefused(AccessReviewError):
    """The campaign cannot close: workbooks missing or revocations not in effect."""

    code = "CHARTER-520"
    fix = "Record every reviewer's workbook first, or apply and verify the revocations."
