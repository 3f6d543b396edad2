/**
 * The run's DAG drawn as SVG in horizontal bands, updated in place and in time slices.
 *
 * Bands: the drawing is cut between rows of nodes (`bandCuts` in layout.ts, ~`BAND_PX` tall) and each band is
 * its own `<svg>` in a `<div class="aether-band">` of explicit size with `contain: strict` and
 * `content-visibility: auto`. Chromium then lays out, pre-paints and paints only the bands on screen (a few
 * hundred elements, not the ~8,000 of a 1,000-node run), and a change inside one band re-lays out that band
 * alone. Elements keep layout coordinates; a band's content is translated by its top. A node sits in the band
 * holding its top and never straddles a cut; an edge or an expanded group's box crossing cuts is drawn once per
 * band it crosses, each copy clipped by its band, so the pieces join up exactly. The copy in the band of the
 * edge's end (of the group's top) is the element tests and events see (`.aether-edge`, `[data-node-id]`);
 * the others are `.aether-edge-part` and `.aether-part[data-part-of]`.
 *
 * One `<g data-node-id data-status>` (box, name, meta line) per visible node and one `<path class="aether-edge">`
 * per visible edge are kept across updates (keyed by node id, and by edge) and touched only when what they show
 * changed. A node's tooltip (`<title>`) is made when the pointer first passes over it, not for every node. An
 * update lays out synchronously (linear in the visible nodes: see layout.ts) and then applies the DOM changes as
 * a job of small steps run under a per-frame budget (`FRAME_BUDGET_MS` of script, `MAX_NEW_PER_FRAME` new
 * elements); what is left continues in the next animation frame. A newer graph arriving mid-way replaces the job:
 * it restarts from the newest graph, and the elements already drawn are skipped by their keys. Small graphs
 * finish in the first slice, within the caller's frame.
 *
 * Children of a graph_fn node (or of a group of sibling calls, groups.ts) are hidden until its toggle is clicked;
 * a collapsed node shows how many it holds and their statuses in words. Colours follow each node's `shown`
 * status (status.ts). The view follows the running frontier: after an update it scrolls the newest running or
 * waiting node into view, until the user scrolls the DAG (`follow` turns false; `onFollow` reports it).
 */
import { formatSeconds, setAttr, setText, svg } from "./dom";
import {
  type Box,
  DAGRE_MAX_VISIBLE,
  type GraphIndex,
  type Layout,
  type Point,
  type Route,
  bandCuts,
  computeLayout,
  layoutSignature,
  visibleIds,
} from "./layout";
import { Follower } from "./follow";
import type { GraphNode, RunGraph } from "./protocol";
import { type StatusTone, TONES, statusTone, statusWords } from "./status";
import { metaLine } from "./meta_line";

const MARGIN = 8;

const NAME_CHARS = 22;
/** Script time per animation frame for applying an update; the rest of the frame is the browser's rendering. */
export const FRAME_BUDGET_MS = 12;
/** Elements created per frame at most: each new node costs style, SVG text layout and paint after the script. */
const MAX_NEW_PER_FRAME = 120;
/** Steps between two reads of the clock. */
const CLOCK_EVERY = 16;
/** Target height of a band: the DAG's viewport is at most 520 px tall, so one or two bands are on screen. */
export const BAND_PX = 480;
/** How far an edge's drawing reaches past its end points (arrowhead, stroke): its copies cover that much more. */
const EDGE_REACH = 10;
/** How far a group box's stroke reaches past the box (3 px when selected, centred on the edge). */
const BOX_REACH = 2;

/**
 * The second line of a node whose sync body was given up on (`GraphNode.body`), and its tooltip's words: the node
 * says stopped (or timed out) while the body may still do its effect, so the box says what the body does (the
 * saved view's words: `BODY_WORDS` in aether_nb/runtime/status.py).
 */
export const BODY_LINES: Record<string, [string, string]> = {
  running: ["⟳ body still running", "its sync body still runs in its thread (Python cannot stop it): its effect may still happen"],
  returned: ["↳ body returned later", "its sync body ran on after it was given up on and returned: its effect happened"],
  raised: ["↳ body raised later", "its sync body ran on after it was given up on and raised"],
  ended: ["↳ body ended later", "its sync body ran on after it was given up on and has ended"],
};

/** The status a node shows: the kernel's `shown` (see status.py: live containers, nothing live in a finished run). */
export function shownStatus(node: GraphNode): string {
  return node.shown ?? node.status;
}

interface NodeEl {
  g: SVGGElement;
  box: SVGRectElement;
  name: SVGTextElement;
  meta: SVGTextElement;
  /** The tooltip, made on the first pointer-over; `tip` is its text, kept current without touching the DOM. */
  title: SVGTitleElement | null;
  tip: string;
  replayed: SVGTextElement | null;
  toggle: SVGGElement | null;
  toggleText: SVGTextElement | null;
  key: string;
  /** Copies of an expanded group's box in the other bands it crosses, by band. */
  parts: Map<number, SVGGElement>;
}

interface EdgeEl {
  path: SVGPathElement;
  /** Copies in the other bands the edge crosses, by band. */
  parts: Map<number, SVGPathElement>;
  /** What it was last drawn from: its route, the band of its end and the bands it crosses. */
  points: Point[];
  band: number;
  first: number;
  last: number;
}

/** One horizontal band of the drawing: a contained box holding an SVG translated by the band's top. */
interface Band {
  div: HTMLDivElement;
  svg: SVGSVGElement;
  content: SVGGElement;
  /** Expanded groups' boxes, outermost first (`data-depth`), under the edges and the nodes. */
  groups: SVGGElement;
  edges: SVGGElement;
  nodes: SVGGElement;
  top: number;
  height: number;
  width: number;
}

export class DagView {
  readonly el: HTMLDivElement;
  readonly expanded = new Set<string>();
  selected: string | null = null;
  /** Set after each update, for tests and debugging: the engine and the time of the last layout. */
  lastLayout: Layout | null = null;

  private readonly nodes = new Map<string, NodeEl>();
  /** Edges keyed by `from \u0001 to`. */
  private readonly edges = new Map<string, EdgeEl>();
  /** Bands in use are the first `bandCount`; any after them are left over from a taller layout, emptied by the
   * running job and removed when it ends. */
  private readonly bands: Band[] = [];
  private bandCount = 0;
  /** Band edges in canvas coordinates (layout + MARGIN): band k spans bounds[k] to bounds[k + 1]. */
  private bounds: number[] = [0, 0];
  private job: Job | null = null;
  private frame = 0;
  private readonly markerId: string;
  private signature = "";
  /** Graph_fn nodes the user collapsed or expanded: the automatic expansion of a lone root leaves them alone. */
  private readonly touched = new Set<string>();
  /** Scroll the newest running or waiting node into view after each update (off once the user scrolls). */
  /** Follows the running frontier (follow.ts). */
  readonly follower: Follower;

  constructor(
    private readonly onSelect: (id: string | null) => void,
    private readonly onToggle: () => void,
  ) {
    // Unique per widget instance, also across separately loaded copies of this module (each widget on a page
    // may load its own): another widget's hidden DAG must never take this one's arrowheads with it.
    const random = typeof crypto !== "undefined" && "randomUUID" in crypto ? crypto.randomUUID() : Math.random().toString(36).slice(2);
    this.markerId = `aether-arrow-${random}`;
    this.el = document.createElement("div");
    this.el.className = "aether-dag";
    // The arrowhead, shared by every band's edges; outside the bands, so no band's visibility affects it.
    const defsSvg = svg("svg", { class: "aether-dag-defs", width: "0", height: "0", "aria-hidden": "true" });
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
    defsSvg.append(defs);
    this.el.append(defsSvg);
    this.el.addEventListener("click", this.onClick);
    this.el.addEventListener("mouseover", this.onPointerOver);
    this.follower = new Follower(this.el);
  }

  private readonly onClick = (event: MouseEvent): void => {
    const target = event.target as Element;
    const g = target.closest<SVGGElement>("[data-node-id], [data-part-of]");
    if (!g) return;
    const id = g.dataset.nodeId ?? g.dataset.partOf!;
    if (target.closest("[data-action='toggle']") || (g.dataset.kind === "group" && g.dataset.collapsed === "true")) {
      this.touched.add(id);
      if (this.expanded.has(id)) this.expanded.delete(id);
      else this.expanded.add(id);
      this.onToggle();
      return;
    }
    this.selected = id;
    this.onSelect(id);
  };

  /** Makes a node's tooltip when the pointer first reaches it, and refreshes its text after that. */
  private readonly onPointerOver = (event: MouseEvent): void => {
    const g = (event.target as Element).closest<SVGGElement>("[data-node-id]");
    const el = g ? this.nodes.get(g.dataset.nodeId!) : undefined;
    if (!el) return;
    if (!el.title) {
      el.title = svg("title");
      el.g.prepend(el.title);
    }
    setText(el.title, el.tip);
  };

  /**
   * Shows `graph`: lays it out if its visible structure changed, then applies the DOM changes until `deadline`
   * (a `performance.now()` time) and continues in later animation frames. Replaces any unfinished update.
   */
  update(graph: RunGraph, index: GraphIndex, now: number, deadline = performance.now() + FRAME_BUDGET_MS): void {
    // A run that is one graph_fn at the top level would otherwise show a single box: open it.
    const top = index.childrenOf.get(null) ?? [];
    if (top.length === 1 && top[0].kind !== "group" && index.childrenOf.has(top[0].id) && !this.touched.has(top[0].id)) {
      this.expanded.add(top[0].id);
    }
    const visible = visibleIds(index, this.expanded);
    const signature = layoutSignature(index, visible, this.expanded);
    let layout = this.lastLayout;
    if (!layout || signature !== this.signature) {
      layout = computeLayout(index, this.expanded, visible.length);
      this.signature = signature;
      this.lastLayout = layout;
      this.setBands(layout);
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
        for (const part of nodeEl.parts.values()) part.remove();
        this.nodes.delete(id);
      }
    }
    const routes = new Set<string>();
    for (const route of layout.routes) routes.add(edgeKey(route));
    for (const [key, edge] of this.edges) {
      if (!routes.has(key)) {
        edge.path.remove();
        for (const part of edge.parts.values()) part.remove();
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

  /** Cuts the new layout into bands: sizes and offsets of the bands change now, their content in the job. */
  private setBands(layout: Layout): void {
    const total = layout.height + 2 * MARGIN;
    const width = layout.width + 2 * MARGIN;
    const bounds = [0, ...bandCuts(layout, BAND_PX).map((cut) => cut + MARGIN), total];
    const count = bounds.length - 1;
    for (let k = 0; k < count; k++) {
      const band = this.bands[k] ?? this.addBand();
      const top = bounds[k];
      const height = bounds[k + 1] - top;
      if (band.top !== top) {
        band.top = top;
        band.content.setAttribute("transform", `translate(${MARGIN},${MARGIN - top})`);
      }
      if (band.height !== height || band.width !== width) {
        band.height = height;
        band.width = width;
        band.div.style.width = `${width}px`;
        band.div.style.height = `${height}px`;
        band.svg.setAttribute("width", String(width));
        band.svg.setAttribute("height", String(height));
      }
      band.div.hidden = false;
    }
    for (let k = count; k < this.bands.length; k++) this.bands[k].div.hidden = true;
    this.bounds = bounds;
    this.bandCount = count;
    this.el.dataset.bands = String(count);
  }

  private addBand(): Band {
    const div = document.createElement("div");
    div.className = "aether-band";
    const bandSvg = svg("svg", { class: "aether-dag-svg" });
    const content = svg("g");
    const groups = svg("g", { class: "aether-groups" });
    const edges = svg("g", { class: "aether-edges" });
    const nodes = svg("g", { class: "aether-nodes" });
    content.append(groups, edges, nodes);
    bandSvg.append(content);
    div.append(bandSvg);
    this.el.append(div);
    const band: Band = { div, svg: bandSvg, content, groups, edges, nodes, top: NaN, height: NaN, width: NaN };
    this.bands.push(band);
    return band;
  }

  /** The band holding canvas y `y` (clamped to the bands in use). */
  private bandOf(y: number): number {
    const bounds = this.bounds;
    let lo = 0;
    let hi = this.bandCount - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (bounds[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
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
      if (box) created += this.drawNode(index.byId.get(id)!, box, index, now);
      if (!more()) return this.continueLater();
    }
    const routes = layout.routes;
    while (job.edge < routes.length) {
      created += this.drawEdge(routes[job.edge++]);
      if (!more()) return this.continueLater();
    }
    this.job = null;
    delete this.el.dataset.pending;
    // The frontier: the newest running or waiting node that is drawn (a collapsed group stands for its members).
    let frontier: Box | null = null;
    delete this.el.dataset.frontier;
    for (let i = visible.length - 1; i >= 0; i--) {
      const tone = statusTone(shownStatus(index.byId.get(visible[i])!));
      const box = layout.boxes.get(visible[i]);
      if ((tone === "running" || tone === "waiting") && box && !box.group) {
        frontier = box;
        this.el.dataset.frontier = visible[i];
        break;
      }
    }
    this.follower.update(frontier);
    // Every visible element has been moved into the bands in use: the bands after them are empty.
    for (const band of this.bands.splice(this.bandCount)) band.div.remove();
  }

  private continueLater(): void {
    if (!this.frame) this.frame = requestAnimationFrame(this.onFrame);
  }

  /** Draws one edge; returns how many elements it created. */
  private drawEdge(route: Route): number {
    const points = route.points;
    if (points.length < 2) return 0;
    let low = Infinity;
    let high = -Infinity;
    for (const p of points) {
      low = Math.min(low, p.y);
      high = Math.max(high, p.y);
    }
    const band = this.bandOf(points[points.length - 1].y + MARGIN);
    const first = this.bandOf(low + MARGIN - EDGE_REACH);
    const last = this.bandOf(high + MARGIN + EDGE_REACH);
    const mapKey = edgeKey(route);
    let edge = this.edges.get(mapKey);
    // Most edges of a growing graph keep their route: compared as numbers, without building the path string.
    if (edge && edge.band === band && edge.first === first && edge.last === last && samePoints(edge.points, points)) {
      return 0;
    }
    const d = points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
    let created = 0;
    if (!edge) {
      const path = this.edgePath(d, "aether-edge");
      path.dataset.from = route.from;
      path.dataset.to = route.to;
      edge = { path, parts: new Map(), points, band, first, last };
      this.edges.set(mapKey, edge);
      created++;
    }
    Object.assign(edge, { points, band, first, last });
    setAttr(edge.path, "d", d);
    const layer = this.bands[band].edges;
    if (edge.path.parentNode !== layer) layer.append(edge.path);
    for (const [k, part] of edge.parts) {
      if (k < first || k > last || k === band) {
        part.remove();
        edge.parts.delete(k);
      }
    }
    for (let k = first; k <= last; k++) {
      if (k === band) continue;
      const part = edge.parts.get(k);
      if (part) {
        setAttr(part, "d", d);
      } else {
        const copy = this.edgePath(d, "aether-edge-part");
        this.bands[k].edges.append(copy);
        edge.parts.set(k, copy);
        created++;
      }
    }
    return created;
  }

  private edgePath(d: string, cls: string): SVGPathElement {
    return svg("path", { d, class: cls, "marker-end": `url(#${this.markerId})` });
  }

  /** Draws one node, or nothing when its key is unchanged; returns how many elements it created. */
  private drawNode(node: GraphNode, box: Box, index: GraphIndex, now: number): number {
    const children = index.childrenOf.get(node.id);
    const collapsed = children !== undefined && !box.group;
    let summary = "";
    let count = 0;
    const status = shownStatus(node);
    if (collapsed) {
      // Direct children for a group ("20 calls · 18 done · 2 running"), all descendants for a nested agent.
      const tally = new Map<StatusTone, number>();
      const stack = [...children];
      const isGroup = node.kind === "group";
      while (stack.length) {
        const child = stack.pop()!;
        const grandchildren = index.childrenOf.get(child.id);
        if (!isGroup && grandchildren) {
          stack.push(...grandchildren);
          continue;
        }
        count++;
        const t = statusTone(shownStatus(child));
        tally.set(t, (tally.get(t) ?? 0) + 1);
      }
      const parts = [...TONES].reverse().filter((t) => tally.get(t)).map((t) => `${tally.get(t)} ${t === "waiting" ? "waiting" : t}`);
      // The counts must fit the box: "▸ 20 calls · 12 running · 8 done" ran past its edge. Without the noun first,
      // then cut with "…" as a preview is (the tooltip and the expanded group give every count).
      const counts = parts.join(" · ");
      summary = `▸ ${count} ${isGroup ? "calls" : count === 1 ? "step" : "steps"} · ${counts}`;
      if (metaLine(summary, "") !== summary) summary = metaLine(`▸ ${count}: ${counts}`, "");
    }
    const duration = nodeDuration(node, now);
    const body = node.body ? BODY_LINES[node.body] ?? BODY_LINES.ended : null;
    // (a body's line goes without the duration: the node's own, up to the stop, is not the body's, and both
    // did not fit the box)
    const meta = collapsed ? summary : body ? metaLine(body[0], "") : metaLine(node.label || unlabelled(node), duration);
    const tone = statusTone(status);
    const selected = this.selected === node.id;
    const top = box.y + MARGIN;
    const band = this.bandOf(top);
    const first = box.group ? this.bandOf(top - BOX_REACH) : band;
    const last = box.group ? this.bandOf(top + box.h + BOX_REACH) : band;
    const shape = [box.x, box.y, box.w, box.h, box.group, box.depth, band, first, last].join("|");
    const key = [node.status, status, node.name, meta, node.replayed ? 1 : 0, node.body ?? "", selected, children ? 1 : 0, shape].join("|");
    let el = this.nodes.get(node.id);
    if (el && el.key === key) return 0;
    let created = 0;
    if (!el) {
      el = this.createNode(node.id);
      this.nodes.set(node.id, el);
      created++;
    }
    el.key = key;
    const g = el.g;
    const cls = `aether-tone-${tone}${box.group ? " aether-group" : ""}${selected ? " aether-selected" : ""}`;
    const transform = `translate(${box.x},${box.y})`;
    setAttr(g, "transform", transform);
    setAttr(g, "class", `aether-node ${cls}`);
    setAttr(g, "data-status", node.status);
    setAttr(g, "data-shown", status);
    setAttr(g, "data-kind", node.kind);
    setAttr(g, "data-depth", String(box.depth));
    if (node.body) setAttr(g, "data-body", node.body);
    else g.removeAttribute("data-body");
    setAttr(el.box, "width", String(box.w));
    setAttr(el.box, "height", String(box.h));
    setText(el.name, node.name.length > NAME_CHARS ? `${node.name.slice(0, NAME_CHARS - 1)}…` : node.name);
    const args = node.label ? ` · ${node.label}` : "";
    el.tip = `${node.name} (${node.id})${args} · ${statusWords(status)}${node.replayed ? " · replayed from the journal" : ""}${body ? ` · ${body[1]}` : ""}`;
    if (el.title) setText(el.title, el.tip);
    setText(el.meta, meta);
    if (collapsed) {
      g.dataset.childCount = String(count);
      g.dataset.worstStatus = status;
      g.dataset.collapsed = "true";
    } else {
      delete g.dataset.childCount;
      delete g.dataset.worstStatus;
      delete g.dataset.collapsed;
    }
    if (node.replayed && !el.replayed) {
      el.replayed = svg("text", { class: "aether-replayed-mark", "text-anchor": "end", y: "15" });
      el.replayed.textContent = "↺";
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
    // An expanded group's label sits in its header strip; its meta line is hidden (the box shows the children).
    setAttr(el.name, "y", box.group ? "19" : "17");
    setAttr(el.meta, "visibility", box.group ? "hidden" : "visible");
    // Where it goes: groups under the edges and the nodes, outermost first; copies of a group's box in the other
    // bands it crosses.
    const bandEl = this.bands[band];
    if (box.group) placeGroup(bandEl.groups, g, box.depth);
    else if (g.parentNode !== bandEl.nodes) bandEl.nodes.append(g);
    for (const [k, part] of el.parts) {
      if (k < first || k > last || k === band) {
        part.remove();
        el.parts.delete(k);
      }
    }
    for (let k = first; k <= last; k++) {
      if (k === band) continue;
      let part = el.parts.get(k);
      if (!part) {
        part = svg("g");
        part.dataset.partOf = node.id;
        part.append(svg("rect", { class: "aether-node-box", rx: "6" }));
        el.parts.set(k, part);
        created++;
      }
      setAttr(part, "class", `aether-part ${cls}`);
      setAttr(part, "data-kind", node.kind); // (a group's border is drawn thicker: the same in every band)
      setAttr(part, "transform", transform);
      setAttr(part, "data-depth", String(box.depth));
      const rect = part.firstChild as SVGRectElement;
      setAttr(rect, "width", String(box.w));
      setAttr(rect, "height", String(box.h));
      placeGroup(this.bands[k].groups, part, box.depth);
    }
    return created;
  }

  private createNode(id: string): NodeEl {
    const g = svg("g");
    g.dataset.nodeId = id;
    const box = svg("rect", { class: "aether-node-box", rx: "6" });
    const name = svg("text", { class: "aether-node-name", x: "8" });
    const meta = svg("text", { class: "aether-node-meta", x: "8", y: "32" });
    g.append(box, name, meta);
    return { g, box, name, meta, title: null, tip: "", replayed: null, toggle: null, toggleText: null, key: "", parts: new Map() };
  }

  dispose(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.job = null;
    this.el.removeEventListener("click", this.onClick);
    this.el.removeEventListener("mouseover", this.onPointerOver);
    this.follower.dispose();
    this.nodes.clear();
    this.edges.clear();
  }
}

/** Puts a group's element into a band's group layer after the shallower groups (a nested group lies on top). */
function placeGroup(layer: SVGGElement, el: SVGGElement, depth: number): void {
  if (el.parentNode === layer) return;
  let before: Element | null = null;
  for (let child = layer.firstElementChild; child; child = child.nextElementSibling) {
    if (Number((child as SVGGElement).dataset.depth) > depth) {
      before = child;
      break;
    }
  }
  layer.insertBefore(el, before);
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

function samePoints(a: Point[], b: Point[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].x !== b[i].x || a[i].y !== b[i].y) return false;
  return true;
}

function edgeKey(route: Route): string {
  return `${route.from}\u0001${route.to}`;
}

export /** The second line of a box without an argument preview: a static graph's node that has not started (or never
 * did: skipped, cancelled) says so instead of its kind. */
function unlabelled(node: GraphNode): string {
  if (node.started_at != null || node.kind === "group") return node.kind;
  return node.status === "PENDING" ? "not started yet" : "did not run";
}

function nodeDuration(node: GraphNode, now: number): string {
  if (node.started_at == null) return "";
  const end = node.ended_at ?? (statusTone(shownStatus(node)) === "running" ? now : null);
  if (end == null) return "";
  return formatSeconds(end - node.started_at);
}
