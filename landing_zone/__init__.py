"""The landing zone: org config, builders, synth, limits, lint and deploy."""
