"""Agent Queue: a desktop app that runs a durable, prioritised queue of work for local agents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("agent-queue")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
