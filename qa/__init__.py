"""qa: local, explainable quality scoring of customer-service calls and chats."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qa-toolkit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
