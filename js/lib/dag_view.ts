/**
 * The run's DAG drawn as SVG, updated in place and in time slices.
 *
 * One `<g data-node-id data-status>` per visible node and one `<path class="aether-edge">` per visible edge are
 * kept across updates (keyed by node id, and by edge) and touched only when what they show changed. An update
 * lays out synchronously (linear in the visible nodes: see layout.ts) and then applies the DOM changes as a job
 * of small steps run under a per-frame budget (`FRAME_BUDGET_MS` of script, `MAX_NEW_PER_FRAME` new elements, so
 * the browser's style/layout/paint of one frame stays small too); what is left continues in the next animation
 * frame. A newer graph arriving mid-way replaces the job: it restarts from the newest graph, and the elements
 * already drawn are skipped by their keys. Small graphs finish in the first slice, within the caller's frame.
 *
 * Children of a graph_fn node are hidden until its toggle is clicked; a collapsed node shows its descendant count
 * and their worst status.
 */
import { formatSeconds, setAttr, setText, svg } from "./dom";
import {
  type Box,
  DAGRE_MAX_VISIBLE,
  GROUP_HEADER,
  type GraphIndex,
  type Layout,
  type Route,
  computeLayout,
  layoutSignature,
  visibleIds,
} from "./layout";
import { type GraphNode, type RunGraph, type StatusTone, statusTone, toneSeverity } from "./protocol";

const MARGIN = 8;
const NAME_CHARS = 22;
/** Script time per animation frame for applying an update; the rest of the frame is the browser's rendering. */
export const FRAME_BUDGET_MS = 12;
/** Elements created per frame at most: each new node costs style, SVG text layout and paint after the script. */
const MAX_NEW_PER_FRAME = 120;
/** Steps between two reads of the clock. */
const CLOCK_EVERY = 16;
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
  /** Edge paths keyed by `from \u0001 to`; `d` is kept on the side to compare without reading the DOM. */
  private readonly edges = new Map<string, { path: SVGPathElement; d: string }>();
  private job: Job | null = null;
  private frame = 0;
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
    // A fixed margin as a translation, not a viewBox: resizing the SVG then leaves its content's layout alone.
    const content = svg("g", { transform: `translate(${MARGIN},${MARGIN})` });
    content.append(this.edgeLayer, this.nodeLayer);
    this.svg.append(defs, content);
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

  /**
   * Shows `graph`: lays it out if its visible structure changed, then applies the DOM changes until `deadline`
   * (a `performance.now()` time) and continues in later animation frames. Replaces any unfinished update.
   */
  update(graph: RunGraph, index: GraphIndex, now: number, deadline = performance.now() + FRAME_BUDGET_MS): void {
    // A run that is one graph_fn at the top level would otherwise show a single box: open it.
    const top = index.childrenOf.get(null) ?? [];
    if (top.length === 1 && index.childrenOf.has(top[0].id) && !this.touched.has(top[0].id)) {
      this.expanded.add(top[0].id);
    }
    const visible = visibleIds(index, this.expanded);
    const signature = layoutSignature(index, visible, this.expanded);
    let layout = this.lastLayout;
    if (!layout || signature !== this.signature) {
      layout = computeLayout(index, this.expanded, visible.length);
      this.signature = signature;
      this.lastLayout = layout;
      setAttr(this.svg, "width", String(layout.width + 2 * MARGIN));
      setAttr(this.svg, "height", String(layout.height + 2 * MARGIN));
      this.el.dataset.layoutEngine = layout.engine;
      this.el.dataset.layoutMs = layout.ms.toFixed(1);
    }
    if (this.selected !== null && !index.byId.has(this.selected)) this.selected = null;
    this.el.dataset.nodeCount = String(visible.length);
    this.el.dataset.engineThreshold = String(DAGRE_MAX_VISIBLE);
    void graph;
    // Stale elements go first and at once: removing is cheap, and a stale node must not outlive its graph.
    const shown = new Set(visible);
    for (const [id, nodeEl] of this.nodes) {
      if (!shown.has(id)) {
        nodeEl.g.remove();
        this.nodes.delete(id);
      }
    }
    const routes = new Set<string>();
    for (const route of layout.routes) routes.add(edgeKey(route));
    for (const [key, edge] of this.edges) {
      if (!routes.has(key)) {
        edge.path.remove();
        this.edges.delete(key);
      }
    }
    this.job = { index, layout, visible, now, node: 0, edge: 0 };
    this.el.dataset.pending = "true";
    this.runJob(deadline);
  }

  /** Whether an update is still being applied (also `data-pending` on the DAG element). */
  get pending(): boolean {
    return this.job !== null;
  }

  private readonly onFrame = (): void => {
    this.frame = 0;
    const t0 = performance.now();
    this.runJob(t0 + FRAME_BUDGET_MS);
    this.el.dataset.sliceMs = (performance.now() - t0).toFixed(1); // read by bench/widget_bench.py
  };

  private runJob(deadline: number): void {
    const job = this.job;
    if (!job) return;
    let created = 0;
    let steps = 0;
    // Every step makes progress; the clock is read every CLOCK_EVERY steps.
    const more = (): boolean => {
      if (created >= MAX_NEW_PER_FRAME) return false;
      return ++steps % CLOCK_EVERY !== 0 || performance.now() < deadline;
    };
    const { index, layout, visible, now } = job;
    while (job.node < visible.length) {
      const id = visible[job.node++];
      const box = layout.boxes.get(id);
      if (box && this.drawNode(index.byId.get(id)!, box, index, now)) created++;
      if (!more()) return this.continueLater();
    }
    const routes = layout.routes;
    while (job.edge < routes.length) {
      if (this.drawEdge(routes[job.edge++])) created++;
      if (!more()) return this.continueLater();
    }
    this.job = null;
    delete this.el.dataset.pending;
  }

  private continueLater(): void {
    if (!this.frame) this.frame = requestAnimationFrame(this.onFrame);
  }

  /** Draws one edge; returns whether it created an element. */
  private drawEdge(route: Route): boolean {
    if (route.points.length < 2) return false;
    const d = route.points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
    const key = edgeKey(route);
    const edge = this.edges.get(key);
    if (edge) {
      if (edge.d !== d) {
        edge.path.setAttribute("d", d);
        edge.d = d;
      }
      return false;
    }
    const path = svg("path", { d, class: "aether-edge", "marker-end": `url(#${this.markerId})` });
    path.dataset.from = route.from;
    path.dataset.to = route.to;
    this.edgeLayer.append(path);
    this.edges.set(key, { path, d });
    return true;
  }

  /** Draws one node, or nothing when its key is unchanged; returns whether it created an element. */
  private drawNode(node: GraphNode, box: Box, index: GraphIndex, now: number): boolean {
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
    if (el && el.key === key) return false;
    const created = !el;
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
    return created;
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
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.job = null;
    this.svg.removeEventListener("click", this.onClick);
    this.nodes.clear();
    this.edges.clear();
  }
}

/** An update being applied: the next node and edge to draw. */
interface Job {
  index: GraphIndex;
  layout: Layout;
  visible: string[];
  now: number;
  node: number;
  edge: number;
}

function edgeKey(route: Route): string {
  return `${route.from}\u0001${route.to}`;
}

export function nodeDuration(node: GraphNode, now: number): string {
  if (node.started_at == null) return "";
  const end = node.ended_at ?? (statusTone(node.status) === "running" ? now : null);
  if (end == null) return "";
  return formatSeconds(end - node.started_at);
}
