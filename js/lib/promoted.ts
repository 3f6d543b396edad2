/**
 * PromotedSource front end (aether_nb/notebook/promoted.py): `%aether promote RUN_ID` puts the promoted source
 * into a new code cell below its own cell, once.
 *
 * The kernel's `set_next_input` made JupyterLab and Notebook 7 insert a new cell at every run of the cell, so
 * Run All left two (three...) identical promoted cells. Only the notebook knows what the next cell holds: this
 * view inserts the cell unless the next one already holds the same source, and says which it did. Its model
 * remembers what it did (`placed`), so a view drawn again never inserts a second cell. Without a notebook model to
 * reach (VS Code, Voilà) it shows the source with a Copy button. When the notebook is saved, the line is written as
 * the output's saved view (snapshot.ts), so a reopened notebook shows it, not "model not found".
 */
import type { RenderProps } from "@anywidget/types";
import { h } from "./dom";
import { notebookContext, saveWith, writeSnapshot } from "./snapshot";

/** Synced traits of PromotedSource. */
export interface PromotedSourceModel {
  promoted_source: string;
  run_id: string;
  /** The model's id: the output showing it refers to it. */
  view_id: string;
  /** What a view did: "inserted", "already" (the cell below held the source), "shown" (no notebook); "" not yet. */
  placed: string;
}

const VIEW_MIME = "application/vnd.jupyter.widget-view+json";
/** How many frames a view waits for its own output to be in the notebook's model before it gives up (~2 s). */
const MAX_TRIES = 120;

interface CellLike {
  type?: string;
  sharedModel?: { getSource?(): string };
  outputs?: { length: number; get(i: number): { data?: Record<string, unknown> } };
}

interface NotebookLike {
  cells?: Iterable<CellLike>;
  sharedModel?: { insertCell?(index: number, cell: { cell_type: string; source: string; metadata: Record<string, unknown> }): unknown };
}

/** The index of the cell whose outputs show the model `viewId`, and that notebook's cells, or null. */
function cellOf(notebook: NotebookLike, viewId: string): { index: number; cells: CellLike[] } | null {
  if (!notebook.cells) return null;
  const cells = [...notebook.cells];
  for (let index = 0; index < cells.length; index++) {
    const outputs = cells[index].outputs;
    if (!outputs) continue;
    for (let i = 0; i < outputs.length; i++) {
      const view = outputs.get(i)?.data?.[VIEW_MIME] as { model_id?: string } | undefined;
      if (view?.model_id === viewId) return { index, cells };
    }
  }
  return null;
}

const trimEnd = (text: string): string => text.replace(/\s+$/, "");

/** What the line under the cell says for what a view did. */
export function placedText(placed: string, runId: string): string {
  if (placed === "inserted") return `↓ The promoted source of run ${runId} is in a new cell below.`;
  if (placed === "already") return `↓ The cell below already holds the promoted source of run ${runId}: not inserted again.`;
  return `The promoted source of run ${runId}; copy it into a cell:`;
}

export function renderPromoted({ model, el }: RenderProps<PromotedSourceModel>): () => void {
  const runId = model.get("run_id") ?? "";
  const source = model.get("promoted_source") ?? "";
  const line = h("div", { class: "aether-promoted", "data-placed": "" });
  el.append(line);
  const context = notebookContext(model.widget_manager);
  const notebook = context?.model as NotebookLike | undefined;
  let disposed = false;

  const show = (placed: string): void => {
    line.dataset.placed = placed;
    line.replaceChildren(placedText(placed, runId));
    if (placed === "shown") {
      const copy = h("button", { class: "aether-button", "data-action": "copy-source" }, "Copy");
      copy.addEventListener("click", () => {
        void navigator.clipboard?.writeText(source).then(
          () => (copy.textContent = "Copied"),
          () => (copy.textContent = "Select and copy the source"),
        );
      });
      line.append(" ", copy, h("pre", { class: "aether-promoted-source" }, source));
    }
  };
  const place = (tries: number): void => {
    if (disposed) return;
    const done = model.get("placed") ?? "";
    if (done) return show(done); // (this model placed it already: a view drawn again inserts nothing)
    const found = notebook ? cellOf(notebook, String(model.get("view_id") ?? "")) : null;
    if (!found || !notebook?.sharedModel?.insertCell) {
      // (its output may not be in the notebook's model yet when the view is first drawn)
      if (notebook && tries < MAX_TRIES) requestAnimationFrame(() => place(tries + 1));
      else finish("shown");
      return;
    }
    const next = found.cells[found.index + 1];
    const held = next?.type === "code" && trimEnd(next.sharedModel?.getSource?.() ?? "") === trimEnd(source);
    if (!held) notebook.sharedModel.insertCell(found.index + 1, { cell_type: "code", source, metadata: { trusted: false } });
    finish(held ? "already" : "inserted");
  };
  const finish = (placed: string): void => {
    // (set in this page's model only: the saved widget state keeps it, and the kernel needs not know)
    model.set("placed", placed);
    show(placed);
  };
  place(0);

  const onSave = (state: string): void => {
    if (state !== "started" || !context?.model) return;
    const viewId = String(model.get("view_id") ?? "");
    if (!viewId) return;
    try {
      const get = (key: string): string => String((model.get as (k: string) => unknown)(key) ?? "");
      const live = { modelName: get("_model_name"), viewName: get("_view_name"), module: get("_model_module"), version: get("_model_module_version") };
      const style = "<style>.jupyter-widgets-disconnected:has(> .aether-promoted)::before { display: none; }</style>";
      const placed = model.get("placed") || "inserted";
      const escape = (text: string): string => text.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!);
      const body = escape(placedText(placed, runId)) + (placed === "shown" ? `<pre>${escape(source)}</pre>` : "");
      writeSnapshot(context.model, viewId, `${style}<div class="aether-promoted">${body}</div>`, live);
    } catch (error) {
      console.error("aether_nb: could not save the promote line into the notebook", error);
    }
  };
  const releaseSave = context ? saveWith(model, context, onSave) : () => undefined;
  return () => {
    disposed = true;
    releaseSave();
  };
}
