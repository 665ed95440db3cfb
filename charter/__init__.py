"""Charter: a compliance-led AWS platform kit (CLI `charter`)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("charter")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"
