"""Kernel tests share the real-kernel fixture of tests/kernel_client.py."""

from tests.kernel_client import kernel

__all__ = ["kernel"]
