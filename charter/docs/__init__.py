"""Generated documentation: architecture (with an SVG from the org), CLI reference, guides."""
