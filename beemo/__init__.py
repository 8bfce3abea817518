"""Beemo: a multithreaded event-loop HTTP/1.1 server for Python web apps."""

__version__ = "0.1.0"

__all__ = ["__version__"]
