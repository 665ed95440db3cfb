"""Service control policies: guardrails (awacs) and packing within AWS limits."""
