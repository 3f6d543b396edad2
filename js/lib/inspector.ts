/**
 * The node inspector: inputs, outputs, error with traceback, logs, warnings, usage and timings of one node.
 *
 * The `graph` trait is slim, so the details of the selected node are fetched from the kernel with an `inspect`
 * command when it is selected, and again when its status, end or error flag changes (at most a few times per
 * node). While a fetch is under way the previous details of the same node stay on screen.
 */
import { formatSeconds, formatTime, h, preview } from "./dom";
import { type GraphNode, type InspectReply, type NodeDetails, statusTone } from "./protocol";
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
    if (key !== this.detailsFor && key !== this.fetching) this.fetch(node, key);
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
    const state = !sameNode ? "loading" : this.detailsError ? "error" : "loaded";
    const key = JSON.stringify([node, state, details, this.detailsError]);
    if (key === this.shownKey) return;
    this.shownKey = key;
    this.el.hidden = false;
    this.el.dataset.nodeId = node.id;
    this.el.dataset.details = state;
    const tone = statusTone(node.status);
    const head = h(
      "div",
      { class: "aether-inspector-head" },
      h("strong", {}, node.name),
      " ",
      h("span", { class: `aether-badge aether-tone-${tone}` }, node.status),
      node.replayed ? h("span", { class: "aether-chip", title: "replayed from the journal" }, "replayed") : "",
      h("button", { class: "aether-icon-button", "data-action": "close-inspector", title: "Close" }, "×"),
    );
    const sections: HTMLElement[] = [head, h("div", { class: "aether-muted" }, `${node.kind} · ${node.id}`)];
    if (node.where) sections.push(h("div", { class: "aether-muted", "data-section": "where" }, `ran on ${node.where}`));
    const timing: string[] = [];
    if (node.started_at != null) timing.push(`started ${formatTime(node.started_at)}`);
    if (node.ended_at != null) timing.push(`ended ${formatTime(node.ended_at)}`);
    if (node.started_at != null && node.ended_at != null) timing.push(formatSeconds(node.ended_at - node.started_at));
    if (timing.length) sections.push(section("Timings", h("div", { "data-section": "timings" }, timing.join(" · "))));
    if (state === "loading") sections.push(h("div", { class: "aether-muted", "data-section": "loading" }, "Loading details…"));
    if (state === "error") {
      sections.push(h("div", { class: "aether-control-error", "data-section": "details-error" }, `Details unavailable: ${this.detailsError}`));
    }
    const error = details?.error;
    if (error) {
      sections.push(
        section(
          "Error",
          h("div", { class: "aether-error-title" }, `${error.type}: ${error.message}`),
          h("pre", { class: "aether-traceback", "data-section": "traceback" }, error.traceback || "(no traceback)"),
        ),
      );
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
      if (u.cost != null) parts.push(`$${u.cost.toFixed(4)}`);
      sections.push(section("Usage", h("div", { "data-section": "usage" }, parts.join(" · "))));
    }
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

function section(title: string, ...body: HTMLElement[]): HTMLElement {
  return h("section", {}, h("h4", {}, title), ...body);
}
