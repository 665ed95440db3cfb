"""Landing zone builders, one module per part; each registers itself with `@builder`."""
