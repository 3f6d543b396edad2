/**
 * The node inspector: inputs, outputs, error with traceback, logs, warnings, usage and timings of one node.
 *
 * The `graph` trait is slim, so the details of the selected node are fetched from the kernel with an `inspect`
 * command when it is selected, and again when its status, end or error flag changes (at most a few times per
 * node). While a fetch is under way the previous details of the same node stay on screen.
 */
import { formatSeconds, formatTime, h, preview } from "./dom";
import type { GraphNode, InspectReply, NodeDetails, ServiceCall } from "./protocol";
import { statusTone, statusWords } from "./status";
import { type Rpc, errorText } from "./rpc";

/** What makes fetched details stale: the kernel's details change only with these. */
function detailsKey(node: GraphNode): string {
  return [node.id, node.status, node.ended_at ?? "", node.has_error ? 1 : 0].join("|");
}

export class Inspector {
  readonly el: HTMLElement;
  private shownKey = "";
  private node: GraphNode | null = null;
  private details: NodeDetails | null = null;
  private detailsFor = ""; // detailsKey of the node state the details belong to
  private detailsNode = ""; // and that node's id
  private detailsError = "";
  private fetching = ""; // detailsKey being fetched
  private disposed = false;

  constructor(
    private readonly rpc: Pick<Rpc, "request">,
    private readonly onClose: () => void,
  ) {
    this.el = h("aside", { class: "aether-inspector", hidden: "" });
    this.el.addEventListener("click", this.onClick);
  }

  private readonly onClick = (event: MouseEvent): void => {
    if ((event.target as Element).closest("[data-action='close-inspector']")) this.onClose();
  };

  /** Re-renders only when the node or its details changed, so scrolling and text selection survive live updates. */
  show(node: GraphNode | null): void {
    this.node = node;
    if (!node) {
      this.el.hidden = true;
      this.shownKey = "";
      this.el.replaceChildren();
      return;
    }
    const key = detailsKey(node);
    // A group of calls is drawn by the widget, not a node of the run: it has no details to fetch.
    if (node.kind !== "group" && key !== this.detailsFor && key !== this.fetching) this.fetch(node, key);
    this.render();
  }

  private fetch(node: GraphNode, key: string): void {
    this.fetching = key;
    this.rpc
      .request({ type: "inspect", node_id: node.id })
      .then((reply) => {
        if (this.fetching !== key) return; // another node (or a newer state) was asked for meanwhile
        this.details = (reply as unknown as InspectReply).node;
        this.detailsError = "";
      })
      .catch((error: unknown) => {
        if (this.fetching !== key) return;
        this.details = null;
        this.detailsError = errorText(error);
      })
      .finally(() => {
        if (this.fetching !== key) return;
        this.fetching = "";
        this.detailsFor = key;
        this.detailsNode = node.id;
        if (!this.disposed) this.render();
      });
  }

  private render(): void {
    const node = this.node;
    if (!node) return;
    // Details of an earlier state of the same node stay until the fresh ones arrive; another node's never show.
    const sameNode = this.detailsNode === node.id;
    const details = sameNode ? this.details : null;
    const state = node.kind === "group" ? "group" : !sameNode ? "loading" : this.detailsError ? "error" : "loaded";
    const key = JSON.stringify([node, state, details, this.detailsError]);
    if (key === this.shownKey) return;
    this.shownKey = key;
    this.el.hidden = false;
    this.el.dataset.nodeId = node.id;
    this.el.dataset.details = state;
    const shown = node.shown ?? node.status;
    const tone = statusTone(shown);
    const head = h(
      "div",
      { class: "aether-inspector-head" },
      h("strong", {}, node.name),
      " ",
      h("span", { class: `aether-badge aether-tone-${tone}`, "data-status": node.status }, statusWords(shown)),
      node.replayed ? h("span", { class: "aether-chip", title: "replayed from the journal" }, "replayed") : "",
      h("button", { class: "aether-icon-button", "data-action": "close-inspector", title: "Close" }, "×"),
    );
    const sections: HTMLElement[] = [head, h("div", { class: "aether-muted" }, `${node.kind} · ${node.id}`)];
    if (node.label) sections.push(h("div", { class: "aether-muted", "data-section": "label" }, node.label));
    if (shown !== node.status) {
      const own = statusWords(node.status);
      sections.push(h("div", { class: "aether-muted", "data-section": "own-status" }, `itself: ${own}; shown: ${statusWords(shown)}`));
    }
    if (node.where) sections.push(h("div", { class: "aether-muted", "data-section": "where" }, `ran on ${node.where}`));
    const timing: string[] = [];
    if (node.started_at != null) timing.push(`started ${formatTime(node.started_at)}`);
    if (node.ended_at != null) timing.push(`ended ${formatTime(node.ended_at)}`);
    if (node.started_at != null && node.ended_at != null) timing.push(formatSeconds(node.ended_at - node.started_at));
    if (timing.length) sections.push(section("Timings", h("div", { "data-section": "timings" }, timing.join(" · "))));
    if (state === "group") {
      const n = node.members?.length ?? 0;
      sections.push(h("div", { class: "aether-muted", "data-section": "group" }, `${n} calls of ${node.name.replace(/ ×\d+$/, "")}: expand the group to inspect each.`));
    }
    if (state === "loading") sections.push(h("div", { class: "aether-muted", "data-section": "loading" }, "Loading details…"));
    if (state === "error") {
      sections.push(h("div", { class: "aether-control-error", "data-section": "details-error" }, `Details unavailable: ${this.detailsError}`));
    }
    const error = details?.error;
    if (error) {
      const title = h("div", { class: "aether-error-title" }, `${errorType(error.type)}: ${error.message}`);
      // none for aether_nb's own verdict on a call (the kernel leaves out a traceback of the runtime's frames only)
      const trace = error.traceback ? [h("pre", { class: "aether-traceback", "data-section": "traceback" }, error.traceback)] : [];
      sections.push(section("Error", title, ...trace));
    }
    if (details && details.inputs !== undefined && details.inputs !== null) {
      sections.push(section("Inputs", h("pre", { "data-section": "inputs" }, preview(details.inputs))));
    }
    if (details && details.outputs !== undefined && details.outputs !== null) {
      sections.push(section("Outputs", h("pre", { "data-section": "outputs" }, preview(details.outputs))));
    }
    const u = details?.usage ?? node.usage;
    if (u) {
      const parts = [`${u.prompt_tokens} prompt + ${u.completion_tokens} completion tokens`];
      if (u.cost_usd != null) parts.push(`$${u.cost_usd.toFixed(4)}`);
      if (u.cached) parts.push("from the cache");
      sections.push(section("Usage", h("div", { "data-section": "usage" }, parts.join(" · "))));
    }
    const calls = details?.calls;
    if (calls?.length) sections.push(section("Service calls", serviceCalls(calls)));
    const warnings = details?.warnings;
    if (warnings?.length) {
      sections.push(section("Warnings", h("ul", { "data-section": "warnings" }, ...warnings.map((w) => h("li", {}, w)))));
    }
    const logs = details?.logs;
    if (logs?.length) {
      const rows = logs.map((log) =>
        h(
          "div",
          { class: `aether-log aether-log-${log.level.toLowerCase()}` },
          h("span", { class: "aether-muted" }, `${formatTime(log.ts)} ${log.level.toUpperCase()} `),
          log.message,
        ),
      );
      sections.push(section("Logs", h("div", { "data-section": "logs" }, ...rows)));
    }
    this.el.replaceChildren(...sections);
  }

  dispose(): void {
    this.disposed = true;
    this.el.removeEventListener("click", this.onClick);
  }
}

/** Service calls as one line each: `memory.record(kind='note') → {...}`, marked when replayed or failed. */
export function serviceCalls(calls: ServiceCall[]): HTMLElement {
  const rows = calls.map((c) =>
    h(
      "li",
      { class: c.error ? "aether-call aether-call-failed" : "aether-call", title: c.key },
      h("code", {}, `${c.service}.${c.method}`),
      ` ${short(c.inputs)}`,
      c.error ? h("span", { class: "aether-control-error" }, ` ✗ ${errorType(c.error.type)}: ${c.error.message}`) : ` → ${short(c.outputs)}`,
      c.replayed ? h("span", { class: "aether-chip", title: "replayed from the journal" }, "replayed") : "",
    ),
  );
  return h("ul", { "data-section": "calls" }, ...rows);
}

function short(value: unknown, limit = 80): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? "";
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

function section(title: string, ...body: HTMLElement[]): HTMLElement {
  return h("section", {}, h("h4", {}, title), ...body);
}

/** An exception's type as a person writes it: `ValueError`, not `builtins.ValueError` (other modules stay named). */
export function errorType(type: string): string {
  return type.startsWith("builtins.") ? type.slice("builtins.".length) : type;
}
