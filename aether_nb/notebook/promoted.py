"""``%aether promote RUN_ID``: the promoted ``@graphify`` source goes into the cell below, once.

It went there with IPython's ``set_next_input``, which JupyterLab and Notebook 7 turn into a new cell below the
executing one every time: re-running the cell (Run All) added another identical copy each time. Only the front
end knows what the next cell holds, so :class:`PromotedSource` is a small widget (front end
``js/lib/promoted.ts``, in the run widget's bundle) that, where it can reach the notebook, inserts a new code cell
below its own cell unless that cell already holds the same source, and says which it did. Elsewhere (no notebook
model to reach: VS Code, Voilà) it shows the source with a Copy button; a text-only front end (a terminal, a
notebook executed headless) gets the source as ``text/plain``.
"""

from __future__ import annotations

import html
import pathlib
from typing import Any

import anywidget
import traitlets

__all__ = ["PromotedSource"]


class PromotedSource(anywidget.AnyWidget):
    """The promoted source of one run, put into the cell below by the front end (see the module's docstring).

    ``placed`` is set by the front end, in its own copy of the model (saved with the notebook's widget state, if
    that is saved), so a view drawn again never inserts a second cell: ``"inserted"``, ``"already"`` (the cell
    below held that source), ``"shown"`` (no notebook to insert into).
    """

    _esm = pathlib.Path(__file__).parent / "static" / "run_widget.js"
    promoted_source = traitlets.Unicode("").tag(sync=True)
    run_id = traitlets.Unicode("").tag(sync=True)
    view_id = traitlets.Unicode("").tag(sync=True)
    placed = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view_id = str(self.model_id)  # (the saved view's entry is written under it: js/lib/snapshot.ts)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle: Any = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle  # anywidget returns (data, metadata)
        if isinstance(data, dict):
            # A text-only front end gets the source itself; a page without widgets (GitHub, nbconvert) one line:
            # the source is in the cell below, and printed twice it would be read twice.
            data["text/plain"] = f"# promoted source of run {self.run_id}:\n{self.promoted_source}"
            run_id = html.escape(self.run_id)
            data["text/html"] = (
                f"<div class='aether-promoted'>↓ Promoted source of run {run_id}: put into the cell below when this "
                f"cell ran in JupyterLab or Notebook 7 (not again when that cell already held it); "
                f"<code>ag.get_run({html.escape(repr(self.run_id))}).promote()</code> returns it.</div>"
            )
        return bundle
