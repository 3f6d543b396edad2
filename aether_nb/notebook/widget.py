"""The run widget: a live status table of one run, drawn by ``js/run_widget.ts``."""

from __future__ import annotations

import pathlib

import anywidget
import traitlets


class RunWidget(anywidget.AnyWidget):
    """Shows a run's nodes and their statuses in the notebook.

    Why a widget and not a printed table: the runtime updates ``graph`` as the run advances, and
    the synced trait re-renders the output in place, also while the cell is still awaiting the
    run. The trait only carries state from the kernel to the browser; commands from the browser
    travel as custom messages (trait sync from the browser can stall on ipykernel 7.4).

    ``graph`` is a JSON object ``{"run_id", "name", "status", "nodes": [...], "edges": [[from, to], ...]}``,
    whose shape ``js/lib/protocol.ts`` (``RunGraph``) describes.
    """

    _esm = pathlib.Path(__file__).parent / "static" / "run_widget.js"
    graph = traitlets.Dict().tag(sync=True)
