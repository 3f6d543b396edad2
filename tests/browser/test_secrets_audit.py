"""An engineer audits leaked credentials with an agent, in a real JupyterLab: the agent reads config files that hold
an npm token and an AWS secret key, fetches a status page full of URLs, one of its tools fails, it waits for an
approval, the kernel restarts in the middle, and the run is approved after the restart.

What a person would check afterwards, and this test does: the run did each effect once; none of the secrets is in
the notebook's DuckDB file, on the page (widget, chat, inspector) or in the saved ``.ipynb``, though the tools
returned them. Both token formats reached the store before (detect-secrets' patterns missed them inside JSON), and
the status page's URLs made its npm pattern quadratic. Screenshots: test-artifacts/secrets_*.png.
"""

from __future__ import annotations

import ast
import json

import pytest
from labdriver import LabServer, OpenNotebook, shot

pytestmark = pytest.mark.browser

# The secrets are built from pieces, in the test and in the notebook: the saved .ipynb holds the cells' source, and
# the check below must find them nowhere, so no cell may spell one out.
NPM = "npm_" + "Zx9Q" * 9
AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "NBKEY00001"
DEPLOY = "dtok-" + "Lq3Rv8" * 5

SETUP = """\
%load_ext aether_nb
import os, pathlib
import aether_nb as ag
from aether_nb.testing import FakeOpenAI

pathlib.Path("npmrc.txt").write_text("//npm.example.invalid/:_authToken=npm_" + "Zx9Q" * 9 + "\\n")
pathlib.Path("aws_credentials.txt").write_text(
    "[default]\\naws_access_key_id = AKIA" + "QWERTYUIOP12" + "3456\\n"
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "NBKEY00001\\n"
)
os.environ["DEPLOY_TOKEN"] = "dtok-" + "Lq3Rv8" * 5

def rules(body):
    last = body["messages"][-1]
    if last["role"] == "user":
        return {"tool_calls": [
            {"name": "read_config", "arguments": {"path": "npmrc.txt"}},
            {"name": "read_config", "arguments": {"path": "aws_credentials.txt"}},
            {"name": "fetch_status", "arguments": {"service": "registry"}},
            {"name": "page_oncall", "arguments": {"message": "credentials leaked"}},
        ]}
    return "Two credentials are exposed: the **npm token** in npmrc.txt and the **AWS secret key**. Rotate both."

fake = FakeOpenAI(rules=rules).start()
ag.configure(llm={"base_url": fake.base_url, "model": "gpt-4o-mini"})
"""

AGENT = """\
EFFECTS = "effects.txt"

def effect(line):
    with open(EFFECTS, "a") as f:
        f.write(line + "\\n")

@ag.tool(outputs=["text"])
def read_config(path: str) -> dict:
    \"\"\"Read a config file.

    Args:
        path: the file to read
    \"\"\"
    effect(f"read {path}")
    return {"text": open(path).read()}

@ag.tool(outputs=["page"])
async def fetch_status(service: str) -> dict:
    \"\"\"The service's status page.\"\"\"
    effect(f"fetch {service}")
    links = " ".join(f"https://status.example/{service}/incident/{i}" for i in range(3000))
    return {"page": f"{service}: degraded; npm clients must refresh _authToken. History: {links}"}

@ag.tool(outputs=["ok"])
def page_oncall(message: str) -> dict:
    \"\"\"Page the on-call engineer.\"\"\"
    effect("page")
    raise ConnectionError("the paging service is down")

@ag.tool(outputs=["rotated", "headers"])
def rotate(what: str) -> dict:
    effect(f"rotate {what}")
    return {"rotated": what, "headers": {"X-Deploy": os.environ["DEPLOY_TOKEN"]}}

@ag.graph_fn(name="audit", outputs=["summary", "rotated"])
async def audit(*, context: ag.NodeContext):
    ch = context.channel()
    await ch.send_markdown("Auditing the **config files**…")
    result = await context.llm().run_tools(
        [{"role": "user", "content": "Audit npmrc.txt and aws_credentials.txt for leaked credentials"}],
        tools=[read_config, fetch_status, page_oncall],
    )
    await context.memory().record("audit", {"summary": result.text})
    ok, _ = await ch.ask_approval(f"{result.text}\\n\\nRotate them now?", options=["Rotate", "Later"])
    rotated = [(await rotate(w))["rotated"] for w in ("npm", "aws")] if ok else []
    await ch.send_markdown(f"Rotated: {', '.join(rotated) or 'nothing'}")
    return {"summary": result.text, "rotated": rotated}
"""

START = """\
run = audit.start(run_id="audit-1")
print(await run.wait_for("waiting", timeout=60))
"""

REATTACH = """\
run = ag.get_run("audit-1")
run
"""

REPORT = """\
out = await run
ag.session().flush()
db = pathlib.Path(ag.store().location)
# the file, DuckDB's WAL, the history log's segments (the kernel holds the store: not all of it applied yet)
files = [*db.parent.glob(db.name + "*"), *db.parent.glob(db.name + "*/*")]
raw = b"".join(p.read_bytes() for p in files if p.is_file())
secrets = {"npm": "npm_" + "Zx9Q" * 9, "aws": "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "NBKEY00001",
           "deploy": "dtok-" + "Lq3Rv8" * 5}
print("RESULT", out)
print("EFFECTS", sorted(open(EFFECTS).read().splitlines()))
print("IN_FILE", sorted(k for k, v in secrets.items() if v.encode() in raw))
print("MASKED", raw.count(b"[REDACTED]") > 0)
"""


def test_a_credentials_audit_leaves_no_secret_behind(lab_server: LabServer, open_page: OpenNotebook) -> None:
    name = "secrets_audit.ipynb"
    lab = open_page(lab_server, name, [SETUP, AGENT, START, REATTACH, REPORT])
    lab.run_cell(0)
    lab.run_cell(1)
    lab.run_cell(2, timeout=90)
    widget = lab.widget(2)
    widget.locator("[data-wait-kind='approval']").wait_for(timeout=60_000)
    # read at once: the approval and "waiting" arrive together (the control stood beside "running" for a moment)
    assert widget.get_attribute("data-run-status") == "waiting"
    # the failed tool is counted failed, the LLM loop that recovered shows done, the model's answer is the question
    assert widget.locator(".aether-node[data-node-id='run_tools_1'][data-shown='DONE']").count() == 1
    assert "1 failed" in widget.locator(".aether-counts").inner_text()
    assert widget.locator(".aether-bubble[data-turn='question'] strong", has_text="npm token").count() == 1
    notice = widget.locator(".aether-notice", has_text="holds a secret")
    assert notice.count() >= 1 and "runs again" in notice.first.inner_text(), "the person is told what a restart costs"
    shot(widget, "secrets_01_waiting")
    page_text = lab.page.content()
    assert NPM not in page_text and AWS not in page_text, "the live widget shows no secret the tools returned"

    lab.restart_kernel()
    lab.wait_in_widget(2, "(root) => root.dataset.inert === 'true'", timeout=30)
    lab.run_cell(0)
    lab.run_cell(1)
    lab.run_cell(3, timeout=60)
    live = lab.widget(3)
    live.locator("[data-wait-kind='approval'] button[data-option='Rotate']").click(timeout=30_000)
    lab.wait_in_widget(3, "(root) => root.dataset.runStatus === 'succeeded'", timeout=60)
    # done: nothing will resume it, so the notice no longer warns that a step would run again
    said = "[...root.querySelectorAll('.aether-notice')].some((n) => n.textContent.includes('keeps it redacted'))"
    lab.wait_in_widget(3, f"(root) => {said}", timeout=15)
    assert "runs again" not in live.locator(".aether-notice", has_text="keeps it redacted").first.inner_text()
    # the inspector of the tool that returned the deploy token shows it masked
    live.locator(".aether-node[data-node-id='rotate_1']").click(timeout=15_000)
    inspector = live.locator(".aether-inspector[data-node-id='rotate_1'][data-details='loaded']")
    inspector.wait_for(timeout=15_000)
    assert DEPLOY not in (inspector.inner_text() or "")
    shot(live, "secrets_02_rotated_after_restart")

    lab.run_cell(4, timeout=60)
    printed = lab.output_text(4)

    def line(tag: str) -> str:
        return next(x for x in printed.splitlines() if x.startswith(tag + " "))[len(tag) + 1 :]

    result = ast.literal_eval(line("RESULT"))
    assert result["rotated"] == ["npm", "aws"] and "AWS secret key" in result["summary"]
    effects = ast.literal_eval(line("EFFECTS"))
    # The LLM loop's result holds the secrets its tools read, so it is not journaled (the widget said so): after the
    # restart it ran again. Inside it, the steps that returned a secret ran again too; the one that failed came back
    # from the journal with its error (the model was told the same), as did the status page. Everything after the
    # loop ran once.
    for again in ("read npmrc.txt", "read aws_credentials.txt"):
        assert effects.count(again) == 2, (again, effects)
    for once in ("page", "fetch registry", "rotate npm", "rotate aws"):
        assert effects.count(once) == 1, (once, effects)
    assert ast.literal_eval(line("IN_FILE")) == [], "no secret reached the DuckDB file"
    assert line("MASKED") == "True", "the secrets were there to mask: the check above means something"

    page_text = lab.page.content()
    assert all(s not in page_text for s in (NPM, AWS, DEPLOY)), "nothing on the page shows a secret"
    lab.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    lab.page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    saved = (lab_server.root_dir / name).read_text()
    json.loads(saved)
    assert all(s not in saved for s in (NPM, AWS, DEPLOY)), "the saved notebook holds no secret"
    shot(lab.output(4), "secrets_03_report")
