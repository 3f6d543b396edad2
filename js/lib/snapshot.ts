/**
 * A saved notebook reopened without this kernel shows the run, not "Error displaying widget: model not found".
 *
 * ipywidgets restores widget models from the notebook's metadata (`widgets` ->
 * `application/vnd.jupyter.widget-state+json`) whenever it opens a notebook, whatever its "save widget state"
 * setting; the setting only decides whether all widgets are written there. So when the notebook is saved, each
 * run widget writes one small entry for its own model id: an anywidget model whose front end is `SAVED_ESM` (a
 * few lines, inline) and whose state is the run's static view (the kernel's `static_html` once the run finished,
 * else a copy of what the widget shows, controls removed). Reopened with no kernel (or a new one), that entry
 * renders in place of the live widget; with this kernel still running, ipywidgets finds the live model first and
 * ignores the entry. Entries of widgets no output shows any more are dropped at each save.
 *
 * One race is ipywidgets' own: when a new kernel connects before the notebook's state is restored, the output may
 * already have given up ("model not found") by the time the entry's model exists. The entry's `initialize` (run
 * when its model is made) then renders such outputs again, so the saved view shows.
 */

const STATE_MIME = "application/vnd.jupyter.widget-state+json";
const VIEW_MIME = "application/vnd.jupyter.widget-view+json";
/** A snapshot larger than this is replaced by the header and the chat only. */
export const MAX_SNAPSHOT = 400_000;

interface Signal<T> {
  connect(fn: (sender: unknown, value: T) => void): boolean;
  disconnect(fn: (sender: unknown, value: T) => void): boolean;
}

interface NotebookModelLike {
  getMetadata?(key: string): unknown;
  setMetadata?(key: string, value: unknown): void;
  cells?: Iterable<{ type?: string; outputs?: { length: number; get(i: number): { data?: Record<string, unknown> } } }>;
}

interface ContextLike {
  saveState?: Signal<string>;
  model?: NotebookModelLike;
}

/** The notebook context behind a widget manager (JupyterLab and Notebook 7), or null (Voilà, VS Code, tests). */
export function notebookContext(manager: unknown): ContextLike | null {
  try {
    const context = (manager as { context?: ContextLike } | null)?.context;
    return context && context.saveState && context.model ? context : null;
  } catch {
    return null;
  }
}

function shownModelIds(model: NotebookModelLike): Set<string> | null {
  if (!model.cells) return null;
  const ids = new Set<string>();
  for (const cell of model.cells) {
    const outputs = cell.outputs;
    if (!outputs) continue;
    for (let i = 0; i < outputs.length; i++) {
      const view = outputs.get(i)?.data?.[VIEW_MIME] as { model_id?: string } | undefined;
      if (view?.model_id) ids.add(view.model_id);
    }
  }
  return ids;
}

/** The anywidget names of the live model (its module version is anywidget's, which must load the entry). */
export interface LiveModelNames {
  modelName: string;
  viewName: string;
  module: string;
  version: string;
}

/**
 * The saved entry's front end: render the snapshot; when the model is made, re-render outputs that gave up on it.
 * Plain ES2017 without imports: it runs from the notebook's metadata, with no bundle behind it.
 */
export const SAVED_ESM = `
const VIEW = "application/vnd.jupyter.widget-view+json";
function heal(model) {
  const ctx = model.widget_manager && model.widget_manager.context;
  const id = model.get("view_id");
  if (!ctx || !ctx.model || !ctx.model.cells || !id) return;
  const gaveUp = [...document.querySelectorAll(".jupyter-widgets")].some((el) => /model not found/.test(el.textContent || ""));
  if (!gaveUp) return;
  for (const cell of ctx.model.cells) {
    const outs = cell.outputs;
    if (!outs) continue;
    for (let i = 0; i < outs.length; i++) {
      const out = outs.get(i);
      const view = out && out.data && out.data[VIEW];
      if (view && view.model_id === id) outs.set(i, out.toJSON());
    }
  }
}
export default {
  initialize({ model }) {
    setTimeout(() => { try { heal(model); } catch (error) { console.error("aether_nb saved view", error); } }, 0);
  },
  render({ model, el }) {
    el.innerHTML = model.get("snapshot") || "";
  },
};
`;

const SAVERS = new WeakMap<object, Array<(state: string) => void>>();
const HANDLERS = new WeakMap<object, (sender: unknown, state: string) => void>();
/** How long a disposed view's save handler still answers for its model (an output rendered again takes ms). */
const RELEASE_MS = 3000;

/**
 * Call `save(state)` at each save of the notebook for `model` (a widget model): the newest of its views' handlers.
 * Returns what the view calls when it is disposed.
 *
 * Why per model, not per view: JupyterLab renders an output again when the kernel updates it (a finished run's
 * static view arrives once its drawing is made), disposing the old view before the new one renders. A save in
 * between could find no view connected and write no entry, so the reopened notebook showed nothing there. A
 * disposed view's handler now stays a few seconds (a newer view, when one comes, answers first); then it goes,
 * and with the model's last one the connection (an output cleared: its entry is dropped at the next save).
 */
export function saveWith(model: object, context: ContextLike, save: (state: string) => void): () => void {
  const savers = SAVERS.get(model) ?? [];
  SAVERS.set(model, savers);
  savers.push(save);
  if (!HANDLERS.has(model)) {
    const handler = (_sender: unknown, state: string): void => {
      const savers = SAVERS.get(model) ?? [];
      savers[savers.length - 1]?.(state);
    };
    HANDLERS.set(model, handler);
    context.saveState?.connect(handler);
  }
  return () => {
    window.setTimeout(() => {
      const left = (SAVERS.get(model) ?? []).filter((s) => s !== save);
      SAVERS.set(model, left);
      if (left.length) return;
      const handler = HANDLERS.get(model);
      HANDLERS.delete(model);
      if (handler) context.saveState?.disconnect(handler);
    }, RELEASE_MS);
  };
}

/** Writes (or refreshes) the saved entry for `modelId` into the notebook's widget state metadata. */
export function writeSnapshot(model: NotebookModelLike, modelId: string, html: string, live: LiveModelNames): void {
  if (!model.getMetadata || !model.setMetadata) return;
  const current = (model.getMetadata("widgets") ?? {}) as Record<string, { state?: Record<string, unknown> }>;
  const prior = current[STATE_MIME]?.state ?? {};
  const shown = shownModelIds(model);
  const state: Record<string, unknown> = {};
  for (const [id, entry] of Object.entries(prior)) {
    // Keep other widgets' entries; drop ours (and anything) that no output refers to any more.
    if (shown === null || shown.has(id)) state[id] = entry;
  }
  state[modelId] = {
    model_name: live.modelName,
    model_module: live.module,
    model_module_version: live.version,
    state: {
      _model_name: live.modelName,
      _model_module: live.module,
      _model_module_version: live.version,
      _view_name: live.viewName,
      _view_module: live.module,
      _view_module_version: live.version,
      _esm: SAVED_ESM,
      snapshot: html,
      view_id: modelId,
    },
  };
  model.setMetadata("widgets", { ...current, [STATE_MIME]: { version_major: 2, version_minor: 0, state } });
}

/** What the saved entry shows: the static view if the kernel made one, else a copy of the widget without controls. */
export function snapshotHtml(root: HTMLElement, staticHtml: string, notice: string): string {
  // ipywidgets marks a model without a kernel "disconnected" (a broken-link icon): the notice says it in words.
  const style = "<style>.jupyter-widgets-disconnected:has(> .aether-run-saved)::before { display: none; }</style>";
  const note = `${style}<div class="aether-notice aether-saved-notice" style="border-left:3px solid #1976d2;padding:4px 8px;margin:4px 0">${escapeHtml(notice)}</div>`;
  if (staticHtml) return `<div class="aether-run-saved">${note}${staticHtml}</div>`;
  const copy = root.cloneNode(true) as HTMLElement;
  // Controls go, and so does the frame of a control under its question bubble (an empty box there reads as
  // broken); a control with no bubble above keeps its prompt.
  for (const el of copy.querySelectorAll("button, input, .aether-message-box, .aether-wait.aether-under-question, .aether-wait-row, .aether-control-error, .aether-notice")) el.remove();
  copy.dataset.saved = "true";
  let html = `<div class="aether-run-saved">${note}${copy.outerHTML}</div>`;
  if (html.length > MAX_SNAPSHOT) {
    for (const el of copy.querySelectorAll(".aether-main")) el.remove();
    html = `<div class="aether-run-saved">${note}${copy.outerHTML}</div>`;
  }
  return html;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
