"""Drive a real JupyterLab from tests: start the server, open notebooks in Chromium, run cells.

Used by the fixtures in ``conftest.py``; later browser tests reuse :class:`LabPage` to run notebooks and click
widgets. Every wait here polls state under a timeout; none sleeps for a fixed time except the short settle
after the kernel first reports idle (see :meth:`LabPage.run_all`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from playwright.sync_api import BrowserContext, Locator, Page
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = Path("/usr/bin/chromium")
# Flags measured to work with Debian's chromium here (FACTS.md). The user-data dir is passed separately.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def shot(locator: Locator, name: str) -> Path:
    """A screenshot of one widget or output (the whole of it, however tall) as ``test-artifacts/<name>.png``, for
    a person to look at. A finished run's output is displayed again (with the saved view), so the element may be
    replaced while the picture is taken: the locator finds the new one."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    for attempt in range(4):
        try:
            locator.wait_for(state="visible", timeout=15_000)
            locator.screenshot(path=str(path))  # (scrolled into view by Playwright)
            return path
        except PlaywrightError as error:
            if "not attached" not in str(error) or attempt == 3:
                raise
    raise AssertionError("unreachable")


def trace(message: str) -> None:
    """Append a timestamped line to ``test-artifacts/browser_trace.log``: when a test is stopped by the tier's
    timeout (which ends the process, so no teardown runs and no output is kept), the last line says where it was."""
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "browser_trace.log", "a", encoding="utf-8") as f:
        f.write(f"{time.strftime('%H:%M:%S')} {os.environ.get('PYTEST_CURRENT_TEST', '?')}: {message}\n")


# JupyterLab settings that keep the server offline: no news feed, no update check.
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LabServer:
    """A JupyterLab server running as a subprocess of the test session."""

    root_dir: Path
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def api(self, path: str, *, method: str = "GET", timeout: float = 5.0) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            return json.loads(body) if body else None

    def kernel_id(self, name: str) -> str | None:
        """The id of the kernel of the notebook ``name`` (a path under the server root), if it has a session."""
        for session in self.api("/api/sessions"):
            if session.get("path") == name and session.get("kernel"):
                kernel_id: str = session["kernel"]["id"]
                return kernel_id
        return None

    def shutdown_kernel(self, name: str) -> None:
        """Shut the notebook's kernel down (end its session), so finished tests leave no kernels running."""
        kernels = []
        for session in self.api("/api/sessions"):
            if session.get("path") == name:
                kernels.append((session.get("kernel") or {}).get("id"))
                with contextlib.suppress(urllib.error.URLError, TimeoutError):
                    self.api(f"/api/sessions/{session['id']}", method="DELETE", timeout=15)
        # The DELETE may time out on a loaded machine with the kernel still shutting down: a page reloaded then
        # would attach to the dying kernel (its widget restore never finishing). Wait until the server has let it go.
        deadline = time.monotonic() + 60
        while kernels and time.monotonic() < deadline:
            with contextlib.suppress(urllib.error.URLError, TimeoutError):
                running = {k.get("id") for k in self.api("/api/kernels")}
                sessions = {s.get("path") for s in self.api("/api/sessions")}
                if name not in sessions and not running.intersection(kernels):
                    return
            time.sleep(0.2)

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        """Write a notebook of code cells into the server root, with the venv's Python kernel."""
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        path = self.root_dir / name
        nbformat.write(nb, path)
        return path


@contextlib.contextmanager
def start_lab(
    work_dir: Path, *, env: dict[str, str | None] | None = None, startup_timeout: float = 90.0
) -> Iterator[LabServer]:
    """Start ``python -m jupyter lab`` from this interpreter's environment, so kernels import aether_nb.

    ``env`` changes the server's environment, which its kernels inherit (a value of None removes the variable),
    e.g. ``{"AETHER_NB_SCRIPTED": "1"}`` for notebooks that answer their own questions. The same server also
    serves the Notebook 7 UI (``/notebooks/<name>``).
    """
    root = work_dir / "root"
    settings = work_dir / "settings"
    for directory in (root, settings, work_dir / "workspaces", work_dir / "config", work_dir / "runtime"):
        directory.mkdir(parents=True, exist_ok=True)
    for rel, value in _LAB_SETTINGS.items():
        target = settings / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))

    port, token = _free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # window.jupyterapp: lets tests run JupyterLab commands (run all cells) instead of hunting menus.
        "--expose-app-in-browser",
        "--JupyterNotebookApp.expose_app_in_browser=True",  # the same for the Notebook 7 UI
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={work_dir / 'workspaces'}",
    ]  # fmt: skip
    # Own config and runtime dirs: the user's ~/.jupyter must not change what the test sees.
    server_env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(work_dir / "config"),
        "JUPYTER_RUNTIME_DIR": str(work_dir / "runtime"),
        # The python3 kernelspec runs "python" from PATH: this interpreter's, not whatever comes first.
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    }
    for key, value in (env or {}).items():
        if value is None:
            server_env.pop(key, None)
        else:
            server_env[key] = value
    log_path = work_dir / "jupyterlab.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=root, env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(root_dir=root, port=port, token=token, process=process, log_path=log_path)
    try:
        _wait_until_up(server, startup_timeout)
        yield server
    finally:
        _stop(process)


def _wait_until_up(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            server.api("/api/status")
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"jupyter lab did not answer /api/status within {timeout} s:\n{server.log_tail()}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets the server shut its kernels down; the process group is killed if it does not exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
# JupyterLab renders an error output as stderr text; IPython's traceback header tells it from other stderr.
_ERROR_OUTPUT = "[data-mime-type='application/vnd.jupyter.stderr']"
_TRACEBACK = "Traceback (most recent call last)"

# JS run in the page. `app` is window.jupyterapp (--expose-app-in-browser).
_JS_KERNEL_IDLE = """(name) => {
  const app = window.jupyterapp;
  const widget = app && app.shell.currentWidget;
  if (!widget || !widget.context || widget.context.path !== name) return false;
  const kernel = widget.sessionContext.session && widget.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""
_JS_WIDGET_ROOT = f"""(i) => {{
  const cell = document.querySelectorAll({json.dumps(_NOTEBOOK + " .jp-Notebook .jp-CodeCell")})[i];
  return (cell && cell.querySelector(".jp-Cell-outputArea .aether-run")) || null;
}}"""
"""The run widget root in code cell ``i``'s output, found again on every poll: JupyterLab renders an output again
when the kernel updates its display (a finished run's saved view), so an element found once may be detached."""
_JS_KERNEL_STATE = """() => {
  const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = widget && widget.sessionContext && widget.sessionContext.session
    && widget.sessionContext.session.kernel;
  return kernel ? `${kernel.connectionStatus}/${kernel.status}` : "none";
}"""
_JS_PROMPTS = """() => Array.from(
  document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt'),
  (el) => el.textContent.trim())"""
_JS_ALL_RAN = """(name) => {
  const prompts = (PROMPTS)();
  const numbered = (p) => /^\\[\\d+\\]:$/.test(p);
  if (prompts.every(numbered)) return true;
  // Only the race described in run_all: the last cell ran and the kernel is idle, so every cell before it ran.
  return prompts.length > 0 && numbered(prompts[prompts.length - 1]) && (IDLE)(name);
}""".replace("PROMPTS", _JS_PROMPTS).replace("IDLE", _JS_KERNEL_IDLE)
"""Every cell has run: each prompt numbered, or the last numbered and the kernel idle (see :meth:`LabPage.run_all`)."""


# Restart the current notebook's kernel the way JupyterLab's "Restart Kernel" does (minus its confirmation dialog):
# KernelConnection.restart() posts /api/kernels/<id>/restart and resolves once the server has restarted it.
_JS_RESTART = """async (name) => {
  const widget = window.jupyterapp.shell.currentWidget;
  if (!widget || !widget.context || widget.context.path !== name) throw new Error(name + ' is not current');
  await widget.sessionContext.session.kernel.restart();
  return null;
}"""


# Make cell `i` the only active and selected cell, then run it without advancing. The command's promise is not
# awaited: it settles only when the cell finishes.
_JS_RUN_CELL = """(i) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const nb = panel.content;
  nb.activeCellIndex = i;
  nb.deselectAll();
  window.jupyterapp.commands.execute('notebook:run-cell');
  return null;
}"""


@dataclass
class LabPage:
    """One notebook open in JupyterLab, in a Chromium page."""

    server: LabServer
    page: Page
    name: str
    console: list[str] = field(default_factory=list)
    _settled: bool = False

    def wait_for_kernel_idle(self, timeout: float = 60.0) -> None:
        self.page.wait_for_function(_JS_KERNEL_IDLE, arg=self.name, timeout=timeout * 1000)

    def prompts(self) -> list[str]:
        """The input prompts of the code cells, e.g. ``["[1]:", "[*]:", "[ ]:"]``."""
        prompts: list[str] = self.page.evaluate(_JS_PROMPTS)
        return prompts

    def run_all(self, *, timeout: float = 120.0, attempts: int = 3) -> None:
        """Run every cell and wait until all have finished.

        The first command after a kernel starts was sometimes lost (FACTS.md): when no cell has started after
        a few seconds, the run is sent again. A cell that has started (``[*]``) is never sent twice.
        """
        self._settle()  # settle after the first idle: see the docstring
        for attempt in range(attempts):
            trace(f"run all cells (attempt {attempt + 1})")
            # Not awaited in the page: the command's promise ends when every cell has run, and a cell that never
            # ends would hang the evaluation (no timeout applies to it); the wait below says what is going on.
            self.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            started = time.monotonic()
            while time.monotonic() - started < 8:
                if any(p != "[ ]:" for p in self.prompts()):
                    break
                self.page.wait_for_timeout(200)
            else:
                if attempt + 1 < attempts:
                    continue
                raise TimeoutError(f"no cell started after {attempts} run-all commands: {self.prompts()}")
            break
        trace("cells started; waiting for all to finish")
        try:
            self.page.wait_for_function(_JS_ALL_RAN, arg=self.name, timeout=timeout * 1000)
        except PlaywrightTimeout:
            raise AssertionError(f"the cells did not all finish within {timeout} s: {self.state()}") from None
        stuck = [i for i, p in enumerate(self.prompts()) if not re.fullmatch(r"\[\d+\]:", p)]
        if stuck:
            # ipykernel 7.4 could publish a cell's last idle status under another message's header when a comm
            # message arrived as the cell before it ended (README, "Event loops"): the cell ran (the ones after it
            # did, the kernel is idle) but its prompt stayed [*]. %load_ext aether_nb guards against it
            # (notebook/kernel_parent.py); if it shows again it is said, not hidden, and the test goes on to check
            # the cells' outputs.
            message = f"cells {stuck} ran but kept the [*] prompt (ipykernel's idle-status race, guarded?)"
            trace(message)
            warnings.warn(message, stacklevel=2)

    def state(self) -> str:
        """The prompts, the kernel's status and the last output's text: what a test that timed out says."""
        kernel = self.page.evaluate(_JS_KERNEL_STATE)
        outputs = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea")
        last = outputs.nth(outputs.count() - 1).inner_text(timeout=5_000)[-800:] if outputs.count() else ""
        return f"prompts {self.prompts()}, kernel {kernel}, last output {last!r}"

    def _settle(self) -> None:
        """Before the first command of a fresh kernel: wait for idle, then a short settle (see :meth:`run_all`)."""
        if not self._settled:
            self.wait_for_kernel_idle()
            self.page.wait_for_timeout(1000)
            self._settled = True

    def run_cell(
        self, index: int, *, wait: bool = True, timeout: float = 120.0, attempts: int = 3, check: bool = True
    ) -> None:
        """Run the code cell at ``index`` (0-based) without advancing; with ``wait``, until it has finished.

        Without ``wait`` it returns once the cell has started or is queued (``[*]:``), so a test can interact
        with a widget while that cell keeps the kernel busy. Lost first commands are retried as in :meth:`run_all`.
        With ``wait`` and ``check``, a cell that raised fails the test at once with its traceback.
        """
        self._settle()
        before = self.prompts()[index]
        for attempt in range(attempts):
            self.page.evaluate(_JS_RUN_CELL, index)
            started = time.monotonic()
            while time.monotonic() - started < 8:
                if self.prompts()[index] != before:
                    break
                self.page.wait_for_timeout(100)
            else:
                if attempt + 1 < attempts:
                    continue
                raise TimeoutError(f"cell {index} did not start after {attempts} attempts: {self.prompts()}")
            break
        if wait:
            self.wait_for_cell(index, timeout=timeout)
            if check:
                self.check_no_errors(index)

    def errors(self, index: int | None = None) -> list[str]:
        """The texts of the error outputs (tracebacks) of cell ``index``, or of every cell."""
        scope = self.output(index) if index is not None else self.page.locator(_NOTEBOOK)
        found = scope.locator(_ERROR_OUTPUT, has_text=_TRACEBACK)
        return [found.nth(i).inner_text() for i in range(found.count())]

    def check_no_errors(self, index: int | None = None) -> None:
        errors = self.errors(index)
        if errors:
            where = f"cell {index}" if index is not None else "the notebook"
            raise AssertionError(f"{where} raised:\n" + "\n\n".join(e[-3000:] for e in errors))

    def wait_for_cell(self, index: int, *, timeout: float = 120.0) -> None:
        """Wait until the cell at ``index`` shows an execution count (it has finished)."""
        self.page.wait_for_function(
            f"(i) => /^\\[\\d+\\]:$/.test(({_JS_PROMPTS})()[i] || '')", arg=index, timeout=timeout * 1000
        )

    def cell(self, index: int) -> Locator:
        return self.page.locator(f"{_NOTEBOOK} .jp-Notebook .jp-CodeCell").nth(index)

    def output(self, index: int) -> Locator:
        """The output area of the code cell at ``index``."""
        return self.cell(index).locator(".jp-Cell-outputArea")

    def output_text(self, index: int) -> str:
        return self.output(index).inner_text()

    def wait_in_output(self, index: int, selector: str, *, timeout: float = 30.0, state: str = "visible") -> Locator:
        """Wait for ``selector`` inside cell ``index``'s output and return its locator."""
        locator = self.output(index).locator(selector).first
        try:
            locator.wait_for(timeout=timeout * 1000, state=state)  # type: ignore[arg-type]
        except PlaywrightTimeout:
            shown = (self.output(index).text_content(timeout=5_000) or "")[-2000:]
            raise AssertionError(f"no {selector} in output {index} after {timeout:g} s; it shows: {shown!r}") from None
        return locator

    def answer_in_widget(self, index: int, text: str, *, timeout: float = 60.0) -> Locator:
        """Type ``text`` into the open question of the run widget in cell ``index``, press Enter, and wait until the
        run succeeds; returns the widget."""
        control = self.wait_in_output(index, "[data-wait-kind='human']", timeout=30)
        control.locator("input").fill(text)
        control.locator("input").press("Enter")
        self.wait_in_widget(index, "(root) => root.dataset.runStatus === 'succeeded'", timeout=timeout)
        return self.widget(index)

    def widget(self, index: int) -> Locator:
        """The aether run widget (``.aether-run``) in the output of cell ``index``."""
        return self.output(index).locator(".aether-run").first

    def click_in_widget(self, index: int, selector: str, *, timeout: float = 30.0) -> None:
        """Click the first element matching ``selector`` inside the run widget of cell ``index``."""
        self.widget(index).locator(selector).first.click(timeout=timeout * 1000)

    def restart_kernel(self, *, timeout: float = 60.0) -> None:
        """Restart the notebook's kernel from the page and wait until it is idle again.

        The settle before the next command applies again, as for a fresh kernel (see :meth:`run_all`).
        """
        before = self.server.kernel_id(self.name)
        self.page.evaluate(_JS_RESTART, self.name)
        self.wait_for_kernel_idle(timeout=timeout)
        assert self.server.kernel_id(self.name) == before, "a restart keeps the kernel id"
        self._settled = False

    def interrupt_kernel(self, *, timeout: float = 30.0) -> None:
        """Click the notebook toolbar's interrupt button (the square), as a person stops a running cell."""
        button = self.page.locator(f"{_NOTEBOOK} [data-command='notebook:interrupt-kernel']").first
        button.click(timeout=timeout * 1000)

    def rename(self, new_name: str, *, timeout: float = 30.0) -> None:
        """Rename the notebook as a person does (JupyterLab: File > Rename Notebook...; Notebook 7: a click on the
        notebook's name at the top), type the new name, Enter; then wait until the page and the server's session
        know it by the new name."""
        if self.page.evaluate("() => window.jupyterapp.commands.hasCommand('docmanager:rename')"):
            self.page.evaluate("() => { window.jupyterapp.commands.execute('docmanager:rename'); }")
        else:
            self.page.locator("#jp-title").click()
        box = self.page.locator(".jp-Dialog input")
        box.fill(new_name, timeout=timeout * 1000)
        box.press("Enter")
        self.page.wait_for_function(
            "(name) => { const w = window.jupyterapp.shell.currentWidget; return !!w && !!w.context && "
            "w.context.path === name; }",
            arg=new_name,
            timeout=timeout * 1000,
        )
        deadline = time.monotonic() + timeout
        while self.server.kernel_id(new_name) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server's session never took the name {new_name}")
            time.sleep(0.1)
        self.name = new_name

    def after_kernel_restart(self, *, timeout: float = 90.0) -> None:
        """The kernel restarted on its own (it died and the server started it again): wait until it is idle. The
        settle before the next command applies again, as for a fresh kernel (see :meth:`run_all`)."""
        self.wait_for_kernel_idle(timeout=timeout)
        self._settled = False

    def wait_in_widget(self, index: int, js_predicate: str, *, timeout: float = 30.0) -> None:
        """Wait until ``js_predicate(root)`` is true for the run widget root in cell ``index``'s output."""
        self.page.wait_for_function(
            f"(i) => {{ const root = ({_JS_WIDGET_ROOT})(i); return root !== null && ({js_predicate})(root); }}",
            arg=index,
            timeout=timeout * 1000,
        )

    def screenshot(self, label: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


OpenNotebook = Callable[..., "LabPage"]
"""The ``open_page`` fixture: ``open_page(server, name, cells=None, ui="lab") -> LabPage``."""

UIS = ("lab", "notebook")
"""The front ends a test can open a notebook in: JupyterLab (``/lab/tree/...``) or Notebook 7 (``/notebooks/...``)."""


def open_notebook(
    server: LabServer, context: BrowserContext, name: str, cells: list[str] | None, *, ui: str = "lab"
) -> LabPage:
    """Open a notebook in a new page and wait until its kernel is idle.

    With ``cells``, a notebook of those code cells is written first; with None, ``name`` must exist in the server
    root (e.g. a copy of one of the project's notebooks). Both UIs share the cell DOM (``.jp-NotebookPanel``,
    ``.jp-CodeCell``, ``.jp-InputPrompt``) and expose ``window.jupyterapp``, so every helper works in both.
    """
    if ui not in UIS:
        raise ValueError(f"ui must be one of {UIS}, got {ui!r}")
    if cells is not None:
        server.write_notebook(name, cells)
    elif not (server.root_dir / name).exists():
        raise FileNotFoundError(server.root_dir / name)
    trace(f"open {name} ({ui})")
    page = context.new_page()
    lab = LabPage(server=server, page=page, name=name)
    page.on("console", lambda msg: lab.console.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: lab.console.append(f"pageerror: {exc}"))
    prefix = "lab/tree" if ui == "lab" else "notebooks"
    # JupyterLab restores the server's saved layout (every notebook earlier tests opened, hidden tabs showing their
    # runs) unless told to reset it: each test's page starts with its own notebook only.
    reset = "reset&" if ui == "lab" else ""
    page.goto(f"{server.base_url}/{prefix}/{name}?{reset}token={server.token}")
    trace("loaded; waiting for an idle kernel")
    lab.wait_for_kernel_idle()
    trace("kernel idle")
    return lab
