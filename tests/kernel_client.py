"""A real ipykernel for tests that need the kernel's event loop (top-level await, background tasks, widgets)."""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel


@dataclass
class CellResult:
    stdout: str = ""
    results: list[str] = field(default_factory=list)
    bundles: list[dict[str, Any]] = field(default_factory=list)
    comms: list[dict[str, Any]] = field(default_factory=list)  # comm messages sent while the cell ran (widget state)
    displayed: list[str] = field(default_factory=list)  # display ids of the outputs it showed (display_id=True)
    updated: list[str] = field(default_factory=list)  # display ids it updated (in any cell)
    error: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return self.stdout + "".join(self.results)


class Kernel:
    """Executes cells in a live ipykernel and collects what they print, return and raise."""

    def __init__(self, km: KernelManager, kc: BlockingKernelClient) -> None:
        self.km = km
        self.kc = kc

    def run(self, code: str, timeout: float = 60.0, cell_id: str | None = None) -> CellResult:
        return self.collect(self.submit(code, cell_id), code, timeout)

    def submit(self, code: str, cell_id: str | None = None) -> str:
        """Send ``code`` for execution without waiting; :meth:`collect` gathers what it outputs."""
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}
        msg = self.kc.session.msg("execute_request", content, metadata={"cellId": cell_id} if cell_id else {})
        self.kc.shell_channel.send(msg)
        msg_id: str = msg["header"]["msg_id"]
        return msg_id

    def collect(self, msg_id: str, code: str, timeout: float = 60.0) -> CellResult:
        """What the cell of ``msg_id`` printed, returned and raised, once the kernel is idle after it."""
        out = CellResult()
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no reply from the kernel within {timeout}s for:\n{code}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.stdout += content["text"]
            elif kind in ("execute_result", "display_data"):
                out.results.append(content["data"].get("text/plain", ""))
                out.bundles.append(content["data"])
                if content.get("transient", {}).get("display_id"):
                    out.displayed.append(content["transient"]["display_id"])
            elif kind == "update_display_data":
                out.bundles.append(content["data"])
                out.updated.append(content.get("transient", {}).get("display_id", ""))
            elif kind == "comm_msg":
                out.comms.append(content)
            elif kind == "error":
                out.error = content
            elif kind == "status" and content["execution_state"] == "idle":
                return out

    def ok(self, code: str, timeout: float = 60.0, cell_id: str | None = None) -> CellResult:
        res = self.run(code, timeout, cell_id)
        if res.error is not None:
            raise AssertionError("cell failed:\n" + "\n".join(res.error["traceback"]))
        return res


@pytest.fixture
def kernel(tmp_path: Any) -> Iterator[Kernel]:
    env = {k: v for k, v in os.environ.items() if k not in ("AETHER_NB_STORE", "JPY_SESSION_NAME")}
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        yield Kernel(km, kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
