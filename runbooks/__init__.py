"""Runbooks: Jinja2 templates (`<id>.md.j2` beside this file) rendered from the org config."""
