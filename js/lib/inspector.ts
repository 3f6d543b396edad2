/** The node inspector: inputs, outputs, error with traceback, logs, warnings, usage and timings of one node. */
import { formatSeconds, formatTime, h, preview } from "./dom";
import { type GraphNode, statusTone } from "./protocol";

export class Inspector {
  readonly el: HTMLElement;
  private shownKey = "";

  constructor(private readonly onClose: () => void) {
    this.el = h("aside", { class: "aether-inspector", hidden: "" });
    this.el.addEventListener("click", this.onClick);
  }

  private readonly onClick = (event: MouseEvent): void => {
    if ((event.target as Element).closest("[data-action='close-inspector']")) this.onClose();
  };

  /** Re-renders only when the node's data changed, so scrolling and text selection survive live updates. */
  show(node: GraphNode | null): void {
    if (!node) {
      this.el.hidden = true;
      this.shownKey = "";
      this.el.replaceChildren();
      return;
    }
    const key = JSON.stringify(node);
    if (key === this.shownKey) return;
    this.shownKey = key;
    this.el.hidden = false;
    this.el.dataset.nodeId = node.id;
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
    const timing: string[] = [];
    if (node.started_at != null) timing.push(`started ${formatTime(node.started_at)}`);
    if (node.ended_at != null) timing.push(`ended ${formatTime(node.ended_at)}`);
    if (node.started_at != null && node.ended_at != null) timing.push(formatSeconds(node.ended_at - node.started_at));
    if (timing.length) sections.push(section("Timings", h("div", { "data-section": "timings" }, timing.join(" · "))));
    if (node.error) {
      sections.push(
        section(
          "Error",
          h("div", { class: "aether-error-title" }, `${node.error.type}: ${node.error.message}`),
          h("pre", { class: "aether-traceback", "data-section": "traceback" }, node.error.traceback || "(no traceback)"),
        ),
      );
    }
    if (node.inputs !== undefined && node.inputs !== null) {
      sections.push(section("Inputs", h("pre", { "data-section": "inputs" }, preview(node.inputs))));
    }
    if (node.outputs !== undefined && node.outputs !== null) {
      sections.push(section("Outputs", h("pre", { "data-section": "outputs" }, preview(node.outputs))));
    }
    if (node.usage) {
      const u = node.usage;
      const parts = [`${u.prompt_tokens} prompt + ${u.completion_tokens} completion tokens`];
      if (u.cost != null) parts.push(`$${u.cost.toFixed(4)}`);
      sections.push(section("Usage", h("div", { "data-section": "usage" }, parts.join(" · "))));
    }
    if (node.warnings?.length) {
      sections.push(
        section("Warnings", h("ul", { "data-section": "warnings" }, ...node.warnings.map((w) => h("li", {}, w)))),
      );
    }
    if (node.logs?.length) {
      const rows = node.logs.map((log) =>
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
    this.el.removeEventListener("click", this.onClick);
  }
}

function section(title: string, ...body: HTMLElement[]): HTMLElement {
  return h("section", {}, h("h4", {}, title), ...body);
}
