/**
 * RunWidget front end: header (status, elapsed, counts, Stop), notice, live DAG with an inspector, and a chat
 * panel with one control per open wait.
 *
 * Traits carry state kernel -> browser; commands go back as custom messages through `Rpc` (FACTS.md). Trait
 * changes only mark parts dirty; one `requestAnimationFrame` flush redraws them, so ten `graph` updates a second
 * of a 1,000-node run cost at most one layout per frame, and none when only statuses changed (see layout.ts).
 * The DAG's DOM changes are applied in time slices of ~12 ms per frame (dag_view.ts), the newest graph winning,
 * into horizontal bands that Chromium skips (layout and paint) while they are scrolled out of view.
 * Anything that throws while drawing is shown inside the widget, never swallowed.
 *
 * The DOM carries data attributes for tests: `data-run-status` on the root, `data-node-id`/`data-status` on
 * nodes, `data-wait-token`/`data-wait-kind` on wait controls, `data-action` on buttons.
 */
import type { RenderProps } from "@anywidget/types";
import { ChatPanel } from "./lib/chat";
import { DagView, FRAME_BUDGET_MS } from "./lib/dag_view";
import { formatSeconds, h } from "./lib/dom";
import { Inspector } from "./lib/inspector";
import { indexGraph } from "./lib/layout";
import { type RunGraph, type RunWidgetModel, isActiveRun, statusTone } from "./lib/protocol";
import { Rpc, errorText } from "./lib/rpc";
import { CSS } from "./lib/styles";

function isRunGraph(value: unknown): value is RunGraph {
  return typeof value === "object" && value !== null && Array.isArray((value as RunGraph).nodes);
}

function render({ model, el }: RenderProps<RunWidgetModel>): () => void {
  const rpc = new Rpc(model);
  const root = h("div", { class: "aether-run", "data-run-status": "", "data-lm-suppress-shortcuts": "true" });
  const title = h("span", { class: "aether-title" }, "no run yet");
  const badge = h("span", { class: "aether-badge" });
  const elapsed = h("span", { class: "aether-muted aether-elapsed" });
  const counts = h("span", { class: "aether-muted aether-counts" });
  const stop = h("button", { class: "aether-button aether-danger", "data-action": "stop", hidden: "" }, "■ Stop");
  const stopError = h("div", { class: "aether-control-error", role: "alert" });
  const header = h("div", { class: "aether-header" }, title, badge, elapsed, counts, h("span", { class: "aether-spacer" }), stop);
  const notice = h("div", { class: "aether-notice", hidden: "" });
  const renderError = h("div", { class: "aether-render-error", role: "alert", hidden: "" });

  const dirty = { graph: true, messages: true, waits: true, notice: true };
  let frame = 0;
  const schedule = (): void => {
    if (!frame) frame = requestAnimationFrame(flush);
  };
  const inspector = new Inspector(rpc, () => {
    dag.selected = null;
    dirty.graph = true;
    schedule();
  });
  const dag = new DagView(
    () => {
      dirty.graph = true;
      schedule();
    },
    () => {
      dirty.graph = true;
      schedule();
    },
  );
  const chat = new ChatPanel(rpc);
  const main = h("div", { class: "aether-main" }, dag.el, inspector.el);
  root.append(h("style", {}, CSS), header, stopError, notice, renderError, main, chat.el);
  el.append(root);

  const showError = (where: string, error: unknown): void => {
    const stack = error instanceof Error && error.stack ? `\n${error.stack}` : "";
    renderError.textContent = `aether_nb widget: ${where} failed: ${errorText(error)}${stack}`;
    renderError.hidden = false;
    console.error(`aether_nb widget: ${where} failed`, error);
  };

  let frameStart = 0;
  const drawGraph = (): void => {
    const graph = model.get("graph");
    if (!isRunGraph(graph)) {
      root.dataset.runStatus = "";
      title.textContent = "no run yet";
      main.hidden = true;
      stop.hidden = true;
      return;
    }
    main.hidden = false;
    const now = Date.now() / 1000;
    root.dataset.runStatus = graph.status;
    root.dataset.runId = graph.run_id;
    title.textContent = graph.name;
    badge.textContent = graph.status;
    badge.className = `aether-badge aether-tone-${statusTone(graph.status)}`;
    stop.hidden = !isActiveRun(graph.status);
    let start = Infinity;
    let end = 0;
    const tally = new Map<string, number>();
    for (const node of graph.nodes) {
      const tone = statusTone(node.status);
      tally.set(tone, (tally.get(tone) ?? 0) + 1);
      if (node.started_at != null) start = Math.min(start, node.started_at);
      if (node.ended_at != null) end = Math.max(end, node.ended_at);
    }
    if (isActiveRun(graph.status)) end = now; // a finished run stops the clock at its last node's end
    elapsed.textContent = Number.isFinite(start) && end >= start ? formatSeconds(end - start) : "";
    const parts = [`${graph.nodes.length} node${graph.nodes.length === 1 ? "" : "s"}`];
    for (const tone of ["done", "running", "waiting", "failed", "pending", "skipped"]) {
      const n = tally.get(tone);
      if (n) parts.push(`${n} ${tone}`);
    }
    counts.textContent = parts.join(" · ");
    counts.dataset.total = String(graph.nodes.length);
    const index = indexGraph(graph);
    dag.update(graph, index, now, frameStart + FRAME_BUDGET_MS); // the DOM work continues in later frames
    inspector.show(dag.selected !== null ? (index.byId.get(dag.selected) ?? null) : null);
  };

  function flush(): void {
    frame = 0;
    const t0 = performance.now();
    frameStart = t0;
    const parts: [keyof typeof dirty, () => void][] = [
      ["graph", drawGraph],
      ["messages", () => chat.updateMessages(model.get("messages") ?? [])],
      ["waits", () => chat.updateWaits(model.get("waits") ?? [])],
      [
        "notice",
        () => {
          const text = model.get("notice") ?? "";
          notice.textContent = text;
          notice.hidden = !text;
        },
      ],
    ];
    for (const [name, draw] of parts) {
      if (!dirty[name]) continue;
      dirty[name] = false;
      try {
        draw();
      } catch (error) {
        showError(`drawing ${name}`, error);
      }
    }
    root.dataset.flushMs = (performance.now() - t0).toFixed(1); // read by bench/widget_bench.py
  }

  const onGraph = (): void => {
    dirty.graph = true;
    schedule();
  };
  const onMessages = (): void => {
    dirty.messages = true;
    schedule();
  };
  const onWaits = (): void => {
    dirty.waits = true;
    schedule();
  };
  const onNotice = (): void => {
    dirty.notice = true;
    schedule();
  };
  let graphUpdates = 0;
  const onGraphChange = (): void => {
    root.dataset.graphUpdates = String(++graphUpdates); // graph messages received, counted by bench/widget_bench.py
    onGraph();
  };
  model.on("change:graph", onGraphChange);
  model.on("change:messages", onMessages);
  model.on("change:waits", onWaits);
  model.on("change:notice", onNotice);

  const onStop = (): void => {
    stopError.textContent = "";
    stop.disabled = true;
    rpc
      .request({ type: "stop" })
      .then(() => {
        stop.dataset.state = "sent"; // stays disabled: the run's status turns cancelled
      })
      .catch((error: unknown) => {
        stopError.textContent = `Stop failed: ${errorText(error)}`;
        stop.disabled = false;
      });
  };
  stop.addEventListener("click", onStop);
  // Keys typed into the widget's inputs must not reach JupyterLab's notebook shortcuts.
  const onKeydown = (event: KeyboardEvent): void => {
    if ((event.target as Element).closest("input, textarea")) event.stopPropagation();
  };
  root.addEventListener("keydown", onKeydown);

  // Elapsed time and running nodes' durations tick once a second while the run is active.
  const ticker = window.setInterval(() => {
    const graph = model.get("graph");
    if (isRunGraph(graph) && isActiveRun(graph.status)) onGraph();
  }, 1000);

  // First draw synchronously, so the widget shows its state as soon as it is attached.
  flush();

  return () => {
    if (frame) cancelAnimationFrame(frame);
    window.clearInterval(ticker);
    model.off("change:graph", onGraphChange);
    model.off("change:messages", onMessages);
    model.off("change:waits", onWaits);
    model.off("change:notice", onNotice);
    stop.removeEventListener("click", onStop);
    root.removeEventListener("keydown", onKeydown);
    rpc.dispose();
    dag.dispose();
    inspector.dispose();
    chat.dispose();
    root.remove();
  };
}

export default { render };
