"""Notebook tests run in a real kernel."""

from tests.kernel_client import kernel

__all__ = ["kernel"]
