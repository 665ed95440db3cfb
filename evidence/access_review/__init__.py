"""Quarterly access reviews: snapshot, reviewer workbooks, decisions, verified removal, signed report."""
