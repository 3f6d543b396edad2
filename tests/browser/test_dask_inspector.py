"""A graph run on a real Dask LocalCluster from a JupyterLab cell: the DAG shows the remote nodes, and the inspector
says which worker ran the one you click (issue 18)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from labdriver import LabPage

pytestmark = pytest.mark.browser

CELL = """\
%load_ext aether_nb
import os
import aether_nb as ag

@ag.tool(outputs=["pid"])
def where_am_i(i: int) -> dict:
    return {"pid": os.getpid()}

@ag.graphify(name="remote_pair", inputs=[], outputs=["pids"])
def remote_pair():
    return {"pids": [where_am_i(i=i).pid for i in range(2)]}

ex = ag.DaskExecutor(n_workers=2, threads_per_worker=1, dashboard_address=":0")
run = remote_pair.start(executor=ex)
run
"""

AFTER = """\
out = await run
workers = await ex.client.run(os.getpid)
await ex.close()
print(out, workers)
"""

DONE = """(root) => root.dataset.runStatus === 'succeeded'
  && [...root.querySelectorAll('.aether-node[data-node-id]')].every((n) => n.dataset.status === 'DONE')"""


def test_the_inspector_names_the_worker_that_ran_a_remote_node(notebook: Callable[[list[str]], LabPage]) -> None:
    lab = notebook([CELL, AFTER])
    lab.run_all(timeout=240)
    lab.check_no_errors()
    widget = lab.widget(0)
    lab.wait_in_widget(0, DONE, timeout=60)
    widget.locator("[data-node-id='where_am_i_1'] .aether-node-box").click()
    where = widget.locator(".aether-inspector [data-section='where']")
    where.wait_for(timeout=15_000)
    text = where.inner_text()
    assert text.startswith("ran on tcp://127.0.0.1:")
    assert text.removeprefix("ran on ") in lab.output_text(1)  # one of the cluster's workers
    lab.screenshot("dask_inspector")
