/**
 * The run's DAG drawn as SVG, updated in place.
 *
 * One `<g data-node-id data-status>` per visible node is kept across updates (keyed by node id) and touched only
 * when what it shows changed; edges are redrawn only when the layout changed. Children of a graph_fn node are
 * hidden until its toggle is clicked; a collapsed node shows its descendant count and their worst status.
 */
import { formatSeconds, setAttr, setText, svg } from "./dom";
import {
  type Box,
  DAGRE_MAX_VISIBLE,
  GROUP_HEADER,
  type GraphIndex,
  type Layout,
  computeLayout,
  layoutSignature,
  visibleIds,
} from "./layout";
import { type GraphNode, type RunGraph, type StatusTone, statusTone, toneSeverity } from "./protocol";

const MARGIN = 8;
const NAME_CHARS = 22;
let instances = 0;

interface NodeEl {
  g: SVGGElement;
  box: SVGRectElement;
  name: SVGTextElement;
  title: SVGTitleElement;
  meta: SVGTextElement;
  replayed: SVGTextElement | null;
  toggle: SVGGElement | null;
  toggleText: SVGTextElement | null;
  key: string;
}

export class DagView {
  readonly el: HTMLDivElement;
  readonly expanded = new Set<string>();
  selected: string | null = null;
  /** Set after each update, for tests and debugging: the engine and the time of the last layout. */
  lastLayout: Layout | null = null;

  private readonly svg: SVGSVGElement;
  private readonly edgeLayer: SVGGElement;
  private readonly nodeLayer: SVGGElement;
  private readonly nodes = new Map<string, NodeEl>();
  private readonly markerId: string;
  private signature = "";
  /** Graph_fn nodes the user collapsed or expanded: the automatic expansion of a lone root leaves them alone. */
  private readonly touched = new Set<string>();

  constructor(
    private readonly onSelect: (id: string | null) => void,
    private readonly onToggle: () => void,
  ) {
    this.markerId = `aether-arrow-${++instances}`;
    this.el = document.createElement("div");
    this.el.className = "aether-dag";
    this.svg = svg("svg", { class: "aether-dag-svg" });
    const defs = svg("defs");
    const marker = svg("marker", {
      id: this.markerId,
      viewBox: "0 0 10 10",
      refX: "10",
      refY: "5",
      markerWidth: "7",
      markerHeight: "7",
      orient: "auto-start-reverse",
    });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "aether-arrow" }));
    defs.append(marker);
    this.edgeLayer = svg("g", { class: "aether-edges" });
    this.nodeLayer = svg("g", { class: "aether-nodes" });
    this.svg.append(defs, this.edgeLayer, this.nodeLayer);
    this.el.append(this.svg);
    this.svg.addEventListener("click", this.onClick);
  }

  private readonly onClick = (event: MouseEvent): void => {
    const target = event.target as Element;
    const g = target.closest<SVGGElement>("[data-node-id]");
    if (!g) return;
    const id = g.dataset.nodeId!;
    if (target.closest("[data-action='toggle']")) {
      this.touched.add(id);
      if (this.expanded.has(id)) this.expanded.delete(id);
      else this.expanded.add(id);
      this.onToggle();
      return;
    }
    this.selected = id;
    this.onSelect(id);
  };

  update(graph: RunGraph, index: GraphIndex, now: number): void {
    // A run that is one graph_fn at the top level would otherwise show a single box: open it.
    const top = index.childrenOf.get(null) ?? [];
    if (top.length === 1 && index.childrenOf.has(top[0].id) && !this.touched.has(top[0].id)) {
      this.expanded.add(top[0].id);
    }
    const visible = visibleIds(index, this.expanded);
    const signature = layoutSignature(index, visible, this.expanded);
    let layout = this.lastLayout;
    const relayout = !layout || signature !== this.signature;
    if (relayout) {
      layout = computeLayout(index, this.expanded, visible.length);
      this.signature = signature;
      this.lastLayout = layout;
      this.drawEdges(layout);
      setAttr(this.svg, "width", String(layout.width + 2 * MARGIN));
      setAttr(this.svg, "height", String(layout.height + 2 * MARGIN));
      setAttr(this.svg, "viewBox", `${-MARGIN} ${-MARGIN} ${layout.width + 2 * MARGIN} ${layout.height + 2 * MARGIN}`);
      this.el.dataset.layoutEngine = layout.engine;
      this.el.dataset.layoutMs = layout.ms.toFixed(1);
    }
    const shown = new Set(visible);
    for (const [id, nodeEl] of this.nodes) {
      if (!shown.has(id)) {
        nodeEl.g.remove();
        this.nodes.delete(id);
      }
    }
    if (this.selected !== null && !index.byId.has(this.selected)) this.selected = null;
    for (const id of visible) {
      const node = index.byId.get(id)!;
      const box = layout!.boxes.get(id);
      if (box) this.drawNode(node, box, index, now);
    }
    this.el.dataset.nodeCount = String(visible.length);
    this.el.dataset.engineThreshold = String(DAGRE_MAX_VISIBLE);
    void graph;
  }

  private drawEdges(layout: Layout): void {
    const frag = document.createDocumentFragment();
    for (const route of layout.routes) {
      if (route.points.length < 2) continue;
      const d = route.points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
      const path = svg("path", { d, class: "aether-edge", "marker-end": `url(#${this.markerId})` });
      path.dataset.from = route.from;
      path.dataset.to = route.to;
      frag.append(path);
    }
    this.edgeLayer.replaceChildren(frag);
  }

  private drawNode(node: GraphNode, box: Box, index: GraphIndex, now: number): void {
    const children = index.childrenOf.get(node.id);
    const collapsed = children !== undefined && !box.group;
    let summary = "";
    let worst: StatusTone | null = null;
    let worstStatus = "";
    let count = 0;
    if (collapsed) {
      const stack = [...children];
      while (stack.length) {
        const child = stack.pop()!;
        count++;
        const tone = statusTone(child.status);
        if (worst === null || toneSeverity(tone) > toneSeverity(worst)) {
          worst = tone;
          worstStatus = child.status;
        }
        stack.push(...(index.childrenOf.get(child.id) ?? []));
      }
      summary = `▸ ${count} node${count === 1 ? "" : "s"} · ${worstStatus}`;
    }
    const duration = nodeDuration(node, now);
    const meta = collapsed ? summary : [node.kind, duration].filter(Boolean).join(" · ");
    const tone = statusTone(node.status);
    const selected = this.selected === node.id;
    const key = [node.status, node.name, meta, node.replayed ? 1 : 0, box.x, box.y, box.w, box.h, box.group, selected, children ? 1 : 0].join("|");
    let el = this.nodes.get(node.id);
    if (el && el.key === key) return;
    if (!el) {
      el = this.createNode(node.id);
      this.nodes.set(node.id, el);
    }
    el.key = key;
    const g = el.g;
    setAttr(g, "transform", `translate(${box.x},${box.y})`);
    setAttr(g, "class", `aether-node aether-tone-${tone}${box.group ? " aether-group" : ""}${selected ? " aether-selected" : ""}`);
    setAttr(g, "data-status", node.status);
    setAttr(g, "data-kind", node.kind);
    setAttr(el.box, "width", String(box.w));
    setAttr(el.box, "height", String(box.h));
    setText(el.name, node.name.length > NAME_CHARS ? `${node.name.slice(0, NAME_CHARS - 1)}…` : node.name);
    setText(el.title, `${node.name} (${node.id}) · ${node.status}`);
    setText(el.meta, meta);
    if (collapsed) {
      g.dataset.childCount = String(count);
      g.dataset.worstStatus = worstStatus;
      g.dataset.collapsed = "true";
    } else {
      delete g.dataset.childCount;
      delete g.dataset.worstStatus;
      delete g.dataset.collapsed;
    }
    if (node.replayed && !el.replayed) {
      el.replayed = svg("text", { class: "aether-replayed-mark", "text-anchor": "end", y: "15" });
      el.replayed.textContent = "↺";
      const tip = svg("title");
      tip.textContent = "replayed from the journal";
      el.replayed.append(tip);
      g.append(el.replayed);
    } else if (!node.replayed && el.replayed) {
      el.replayed.remove();
      el.replayed = null;
    }
    if (el.replayed) setAttr(el.replayed, "x", String(box.w - (children ? 28 : 8)));
    g.dataset.replayed = node.replayed ? "true" : "false";
    if (children && !el.toggle) {
      el.toggle = svg("g", { class: "aether-toggle", "data-action": "toggle", role: "button" });
      el.toggle.append(svg("rect", { width: "16", height: "16", rx: "3" }));
      el.toggleText = svg("text", { x: "8", y: "12", "text-anchor": "middle" });
      el.toggle.append(el.toggleText);
      g.append(el.toggle);
    } else if (!children && el.toggle) {
      el.toggle.remove();
      el.toggle = el.toggleText = null;
    }
    if (el.toggle && el.toggleText) {
      setAttr(el.toggle, "transform", `translate(${box.w - 22},6)`);
      setAttr(el.toggle, "aria-expanded", String(box.group));
      setText(el.toggleText, box.group ? "−" : "+");
    }
    // An expanded group's label sits in its header strip; its meta line moves up beside the name.
    setAttr(el.name, "y", box.group ? "19" : "17");
    setAttr(el.meta, "y", box.group ? String(GROUP_HEADER - 2) : "32");
    setAttr(el.meta, "x", "8");
    if (box.group) setAttr(el.meta, "visibility", "hidden");
    else setAttr(el.meta, "visibility", "visible");
  }

  private createNode(id: string): NodeEl {
    const g = svg("g");
    g.dataset.nodeId = id;
    const box = svg("rect", { class: "aether-node-box", rx: "6" });
    const name = svg("text", { class: "aether-node-name", x: "8" });
    const meta = svg("text", { class: "aether-node-meta" });
    const title = svg("title");
    g.append(title, box, name, meta);
    this.nodeLayer.append(g);
    return { g, box, name, meta, title, replayed: null, toggle: null, toggleText: null, key: "" };
  }

  dispose(): void {
    this.svg.removeEventListener("click", this.onClick);
    this.nodes.clear();
  }
}

export function nodeDuration(node: GraphNode, now: number): string {
  if (node.started_at == null) return "";
  const end = node.ended_at ?? (statusTone(node.status) === "running" ? now : null);
  if (end == null) return "";
  return formatSeconds(end - node.started_at);
}
