/**
 * RunWidget front end: renders the `graph` trait as a compact status table.
 *
 * The DOM carries data attributes (`data-run-status` on the header, `data-node-id` and `data-status` on each row)
 * so that browser tests can query the state without parsing text.
 */
import type { RenderProps } from "@anywidget/types";
import { type GraphNode, type RunGraph, type RunWidgetModel, statusTone } from "./lib/protocol";

const CSS = `
.aether-run { font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px; color: var(--jp-ui-font-color1, #222); }
.aether-run .aether-run-header { font-weight: 600; margin: 2px 0 4px; }
.aether-run table { border-collapse: collapse; }
.aether-run th, .aether-run td { padding: 1px 8px 1px 0; text-align: left; white-space: nowrap; }
.aether-run th { font-weight: 500; color: var(--jp-ui-font-color2, #666); border-bottom: 1px solid var(--jp-border-color2, #ddd); }
.aether-run .aether-status { font-weight: 600; }
.aether-run .aether-tone-pending { color: #757575; }
.aether-run .aether-tone-running { color: #1565c0; }
.aether-run .aether-tone-waiting { color: #b26a00; }
.aether-run .aether-tone-done { color: #2e7d32; }
.aether-run .aether-tone-failed { color: #c62828; }
.aether-run .aether-tone-skipped { color: #9e9e9e; text-decoration: line-through; }
.aether-run .aether-tone-unknown { color: #757575; }
.aether-run .aether-empty { color: var(--jp-ui-font-color2, #666); font-style: italic; }
`;

function isRunGraph(value: unknown): value is RunGraph {
  return typeof value === "object" && value !== null && Array.isArray((value as RunGraph).nodes);
}

function formatDuration(node: GraphNode): string {
  if (node.started_at == null || node.ended_at == null) return "";
  const seconds = Math.max(0, node.ended_at - node.started_at);
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function cell(tag: "td" | "th" | "div", text: string, className?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

function renderGraph(root: HTMLElement, graph: unknown): void {
  root.replaceChildren();
  if (!isRunGraph(graph)) {
    root.append(cell("div", "no run yet", "aether-empty"));
    return;
  }
  const header = document.createElement("div");
  header.className = `aether-run-header aether-tone-${statusTone(graph.status)}`;
  header.dataset.runStatus = graph.status;
  header.dataset.runId = graph.run_id;
  header.textContent = `${graph.name} · ${graph.status}`;
  root.append(header);

  const table = document.createElement("table");
  const head = document.createElement("tr");
  head.append(cell("th", "node"), cell("th", "kind"), cell("th", "status"), cell("th", "time"));
  table.append(head);
  for (const node of graph.nodes) {
    const row = document.createElement("tr");
    row.className = "aether-node";
    row.dataset.nodeId = node.id;
    row.dataset.status = node.status;
    if (node.parent != null) row.dataset.parent = node.parent;
    row.append(
      cell("td", node.name),
      cell("td", node.kind),
      cell("td", node.status, `aether-status aether-tone-${statusTone(node.status)}`),
      cell("td", formatDuration(node)),
    );
    table.append(row);
  }
  root.append(table);
}

function render({ model, el }: RenderProps<RunWidgetModel>): () => void {
  const root = document.createElement("div");
  root.className = "aether-run";
  const style = document.createElement("style");
  style.textContent = CSS;
  const body = document.createElement("div");
  root.append(style, body);
  el.append(root);

  const update = (): void => renderGraph(body, model.get("graph"));
  update();
  model.on("change:graph", update);
  return () => {
    model.off("change:graph", update);
    root.remove();
  };
}

export default { render };
