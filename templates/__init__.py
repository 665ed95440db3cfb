"""Jinja2 templates for reports (control matrix, evidence index, access review)."""
