"""Evidence: collectors, the tamper-evident store, verify, export and access reviews."""
