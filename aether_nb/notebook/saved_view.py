"""A saved notebook shows a plain ipywidgets tree (the ``%aether runs`` table) as it was, not "model not found".

ipywidgets restores widget models from the notebook's metadata when it opens a notebook; a tree of plain widgets
(a ``VBox`` of buttons and labels) is not written there unless the person turned on "save widget state", so a
notebook reopened without its kernel shows "Loading widget..." or "Error displaying widget: model not found" where
the table was. :class:`SavedView` is an invisible anywidget placed inside such a tree: when the notebook is saved,
its front end (``js/lib/saved_view.ts``, in the run widget's bundle) writes one entry for the *tree's* model id
whose front end renders ``snapshot`` (static HTML the kernel made), the same mechanism the run widget uses for its
own saved view (``js/lib/snapshot.ts``). With the kernel still running, ipywidgets finds the live tree first and
ignores the entry.
"""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import traitlets

__all__ = ["SavedView"]


class SavedView(anywidget.AnyWidget):
    """Invisible; saves ``snapshot`` (static HTML) into the notebook under the model id ``saves_view_of``.

    ``note`` is the line above the snapshot in the reopened notebook: what it is, as of when, and that no kernel is
    attached to it.
    """

    _esm = pathlib.Path(__file__).parent / "static" / "run_widget.js"
    saves_view_of = traitlets.Unicode("").tag(sync=True)
    snapshot = traitlets.Unicode("").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layout.display = "none"  # nothing to see while the kernel is there
