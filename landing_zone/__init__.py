"""The landing zone: builders, SCP guardrails and their checks of org.yaml, synth, limits, lint and deploy
(the org config itself is on the ground floor, `charter.config`)."""
