"""Errors of `charter cost` a user can cause."""

from __future__ import annotations

from charter.errors import CharterError


class PricesError(CharterError):
    """A price snapshot file is missing or not in Charter's format."""

    code = "CHARTER-900"
    fix = "Point --prices at a file written by `charter cost --refresh`, or leave it out to use the shipped snapshot."
