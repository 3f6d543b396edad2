/**
 * SavedView front end (aether_nb/notebook/saved_view.py): renders nothing; when the notebook is saved, writes the
 * kernel's static HTML of a plain ipywidgets tree (the `%aether runs` table) under that tree's model id, so a
 * notebook reopened without its kernel shows the table as it was instead of "model not found" (snapshot.ts).
 */
import type { RenderProps } from "@anywidget/types";
import { notebookContext, saveWith, writeSnapshot } from "./snapshot";

/** Synced traits of SavedView. */
export interface SavedViewModel {
  /** The model id of the tree (the VBox the person sees) whose saved entry this writes. */
  saves_view_of: string;
  /** Static HTML made by the kernel (escaped there). */
  snapshot: string;
  /** The line above the snapshot in the reopened notebook (what it is, as of when, that no kernel is attached). */
  note: string;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** The saved entry's HTML: the kernel's note (what this is, as of when, no kernel) above its snapshot. */
export function savedViewHtml(snapshot: string, note: string): string {
  // ipywidgets marks a model without a kernel "disconnected" (a broken-link icon): the note says it in words.
  const style = "<style>.jupyter-widgets-disconnected:has(> .aether-saved-view)::before { display: none; }</style>";
  const noteHtml = `<div class="aether-notice aether-saved-notice" style="border-left:3px solid #1976d2;padding:4px 8px;margin:4px 0">${escapeHtml(note)}</div>`;
  return `${style}<div class="aether-saved-view">${noteHtml}${snapshot}</div>`;
}

export function renderSavedView({ model, el }: RenderProps<SavedViewModel>): () => void {
  el.hidden = true;
  const context = notebookContext(model.widget_manager);
  const onSave = (state: string): void => {
    if (state !== "started" || !context?.model) return;
    const target = model.get("saves_view_of");
    if (!target) return;
    try {
      const get = (key: string): string => String((model.get as (k: string) => unknown)(key) ?? "");
      const live = { modelName: get("_model_name"), viewName: get("_view_name"), module: get("_model_module"), version: get("_model_module_version") };
      const html = savedViewHtml(model.get("snapshot") ?? "", model.get("note") ?? "");
      writeSnapshot(context.model, target, html, live);
    } catch (error) {
      console.error("aether_nb: could not save a static view into the notebook", error);
    }
  };
  return context ? saveWith(model, context, onSave) : () => undefined; // (kept a while after disposal: see saveWith)
}
