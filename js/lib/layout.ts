/**
 * Lays out the visible part of a run graph: top-level nodes plus the children of expanded graph_fn nodes.
 *
 * Why @dagrejs/dagre and not elkjs: dagre is small (~50 kB unminified, no dependencies), synchronous, and
 * maintained by the dagrejs organisation; elkjs is ~1.5 MB (a GWT-compiled Java port) and asynchronous. We lay
 * out each nesting level on its own (edges only join siblings), so dagre's compound-graph support is not needed.
 *
 * Why a second, built-in layered layout: dagre costs ~0.5 s for 1,000 nodes in V8 (measured here in Node 20 on
 * chains, fan-outs and random DAGs; ~130-190 ms at 300, ~44 ms at 150, ~10 ms at 50-60), and it runs on the main
 * thread in one piece. Above `DAGRE_MAX_VISIBLE` visible nodes we switch to `layeredLayout`, a linear-time
 * Sugiyama-style pass (longest-path ranks, one barycenter sweep, wide ranks wrapped into rows) that takes a few
 * milliseconds at 1,000 nodes. Everything here is linear in the visible nodes and edges (index, visible ids,
 * signature, routes), so one layout fits a frame's ~12 ms budget (dag_view.ts). The layout is cached by a
 * structural signature, so status-only updates never lay out again.
 */
import dagre from "@dagrejs/dagre";
import type { GraphNode, RunGraph } from "./protocol";

export const NODE_W = 168;
export const NODE_H = 40;
/** Space inside an expanded graph_fn box: its header strip, and the padding around its sub-graph. */
export const GROUP_HEADER = 30;
export const GROUP_PAD = 12;
const GAP_X = 16;
const GAP_Y = 30;
/** Above this many visible nodes dagre no longer fits one frame's ~12 ms budget; see the module docstring. */
export const DAGRE_MAX_VISIBLE = 50;
/** The layered layout wraps a rank wider than this into several rows (a fan-out of 999 stays readable). */
const WRAP_COLUMNS = 12;

export interface Point {
  x: number;
  y: number;
}

/** A laid-out node, absolute in the SVG, top-left corner. `group` is true for an expanded graph_fn box. */
export interface Box {
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
  depth: number;
  group: boolean;
}

export interface Route {
  from: string;
  to: string;
  points: Point[];
}

export interface Layout {
  boxes: Map<string, Box>;
  routes: Route[];
  width: number;
  height: number;
  engine: "dagre" | "layered";
  /** Milliseconds spent laying out (for the perf test and the debug attribute on the root). */
  ms: number;
}

/** The graph indexed for layout and drawing. */
export interface GraphIndex {
  byId: Map<string, GraphNode>;
  /** Children in graph order; the key `null` holds the top level. */
  childrenOf: Map<string | null, GraphNode[]>;
  /** Sibling edges grouped by the parent of their endpoints. */
  edgesOf: Map<string | null, [string, string][]>;
}

export function indexGraph(graph: RunGraph): GraphIndex {
  const byId = new Map<string, GraphNode>();
  for (const node of graph.nodes) byId.set(node.id, node);
  const childrenOf = new Map<string | null, GraphNode[]>();
  for (const node of graph.nodes) {
    // A parent that is not (yet) in the graph: show the node at the top level rather than lose it.
    const parent = node.parent != null && byId.has(node.parent) ? node.parent : null;
    let list = childrenOf.get(parent);
    if (!list) childrenOf.set(parent, (list = []));
    list.push(node);
  }
  const edgesOf = new Map<string | null, [string, string][]>();
  for (const edge of graph.edges) {
    const a = byId.get(edge[0]);
    const b = byId.get(edge[1]);
    if (!a || !b) continue;
    const pa = a.parent != null && byId.has(a.parent) ? a.parent : null;
    const pb = b.parent != null && byId.has(b.parent) ? b.parent : null;
    if (pa !== pb) continue; // the protocol only has sibling edges; ignore anything else
    let list = edgesOf.get(pa);
    if (!list) edgesOf.set(pa, (list = []));
    list.push(edge);
  }
  return { byId, childrenOf, edgesOf };
}

/** Ids of the nodes to draw: the top level, and recursively the children of expanded nodes. */
export function visibleIds(index: GraphIndex, expanded: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const visit = (parent: string | null): void => {
    for (const node of index.childrenOf.get(parent) ?? []) {
      out.push(node.id);
      if (expanded.has(node.id) && index.childrenOf.has(node.id)) visit(node.id);
    }
  };
  visit(null);
  return out;
}

/** What determines the layout: visible ids, their nesting, the visible edges and the engine. */
export function layoutSignature(index: GraphIndex, visible: string[], expanded: ReadonlySet<string>): string {
  const parts: string[] = [];
  const shown = new Set(visible);
  for (const id of visible) {
    const node = index.byId.get(id)!;
    const open = expanded.has(id) && index.childrenOf.has(id) ? "+" : "";
    parts.push(`${id}\u0001${node.parent ?? ""}${open}`);
  }
  parts.push("\u0002");
  for (const [parent, edges] of index.edgesOf) {
    if (parent !== null && !(expanded.has(parent) && shown.has(parent))) continue;
    for (const [a, b] of edges) parts.push(`${a}\u0001${b}`);
  }
  return parts.join("\u0003");
}

interface LevelResult {
  pos: Map<string, Point>;
  routes: Route[];
  width: number;
  height: number;
}

type Sizes = Map<string, { w: number; h: number }>;

export function computeLayout(index: GraphIndex, expanded: ReadonlySet<string>, visibleCount: number): Layout {
  const t0 = performance.now();
  const engine: Layout["engine"] = visibleCount <= DAGRE_MAX_VISIBLE ? "dagre" : "layered";
  const boxes = new Map<string, Box>();
  const routes: Route[] = [];

  // Lays out one level (children of `parent`) relative to (0, 0); returns its size and a placer for its boxes.
  const layoutGroup = (parent: string | null, depth: number): { w: number; h: number; place: (x: number, y: number) => void } => {
    const children = index.childrenOf.get(parent) ?? [];
    const sizes: Sizes = new Map();
    const subs = new Map<string, { w: number; place: (x: number, y: number) => void }>();
    for (const child of children) {
      if (expanded.has(child.id) && index.childrenOf.has(child.id)) {
        const sub = layoutGroup(child.id, depth + 1);
        sizes.set(child.id, { w: Math.max(NODE_W, sub.w + 2 * GROUP_PAD), h: GROUP_HEADER + sub.h + GROUP_PAD });
        subs.set(child.id, sub);
      } else {
        sizes.set(child.id, { w: NODE_W, h: NODE_H });
      }
    }
    const ids = children.map((c) => c.id);
    const edges = index.edgesOf.get(parent) ?? [];
    const level = engine === "dagre" ? dagreLevel(ids, edges, sizes) : layeredLevel(ids, edges, sizes);
    return {
      w: level.width,
      h: level.height,
      place: (ox: number, oy: number) => {
        for (const id of ids) {
          const p = level.pos.get(id)!;
          const s = sizes.get(id)!;
          const x = ox + p.x;
          const y = oy + p.y;
          const sub = subs.get(id);
          boxes.set(id, { id, x, y, w: s.w, h: s.h, depth, group: sub !== undefined });
          sub?.place(x + (s.w - sub.w) / 2, y + GROUP_HEADER);
        }
        for (const r of level.routes) {
          routes.push({ from: r.from, to: r.to, points: r.points.map((p) => ({ x: p.x + ox, y: p.y + oy })) });
        }
      },
    };
  };

  const top = layoutGroup(null, 0);
  top.place(0, 0);
  return { boxes, routes, width: top.w, height: top.h, engine, ms: performance.now() - t0 };
}

function dagreLevel(ids: string[], edges: [string, string][], sizes: Sizes): LevelResult {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: GAP_X, ranksep: GAP_Y, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const id of ids) {
    const s = sizes.get(id)!;
    g.setNode(id, { width: s.w, height: s.h });
  }
  for (const [a, b] of edges) g.setEdge(a, b);
  dagre.layout(g, { constraints: siblingOrder(ids, edges) });
  const pos = new Map<string, Point>();
  let width = 0;
  let height = 0;
  for (const id of ids) {
    const n = g.node(id);
    const s = sizes.get(id)!;
    pos.set(id, { x: n.x - s.w / 2, y: n.y - s.h / 2 });
    width = Math.max(width, n.x + s.w / 2);
    height = Math.max(height, n.y + s.h / 2);
  }
  const routes: Route[] = [];
  for (const [a, b] of edges) {
    const e = g.edge(a, b) as { points?: Point[] } | undefined;
    routes.push({ from: a, to: b, points: (e?.points ?? []).map((p) => ({ x: p.x, y: p.y })) });
  }
  return { pos, routes, width, height };
}

/**
 * Left-to-right constraints that keep the successors of each node in graph order, which is call order (a model's
 * tool calls `first`, `second`, `third`). Without them dagre breaks its ties in crossing reduction towards the right
 * and drew a fan-out reversed, `third` leftmost. Each pair goes from an earlier id to a later one, so the
 * constraints never form a cycle; dagre ignores a pair whose nodes end up on different ranks.
 */
export function siblingOrder(ids: string[], edges: [string, string][]): { left: string; right: string }[] {
  const position = new Map<string, number>();
  ids.forEach((id, i) => position.set(id, i));
  const successors = new Map<string, Set<string>>();
  for (const [a, b] of edges) {
    if (a === b || !position.has(a) || !position.has(b)) continue;
    (successors.get(a) ?? successors.set(a, new Set()).get(a)!).add(b);
  }
  const out: { left: string; right: string }[] = [];
  for (const set of successors.values()) {
    const sorted = [...set].sort((x, y) => position.get(x)! - position.get(y)!);
    for (let i = 1; i < sorted.length; i++) out.push({ left: sorted[i - 1], right: sorted[i] });
  }
  return out;
}

/**
 * A linear-time layered layout: longest-path ranks (Kahn's order), one barycenter sweep to order each rank by
 * its parents' positions, ranks wider than WRAP_COLUMNS wrapped into rows, rows centred. Edges are straight
 * lines from the bottom of the source to the top of the target.
 */
export function layeredLevel(ids: string[], edges: [string, string][], sizes: Sizes): LevelResult {
  const order = new Map<string, number>();
  ids.forEach((id, i) => order.set(id, i));
  const preds = new Map<string, string[]>();
  const succs = new Map<string, string[]>();
  const indeg = new Map<string, number>();
  for (const id of ids) indeg.set(id, 0);
  for (const [a, b] of edges) {
    if (!order.has(a) || !order.has(b) || a === b) continue;
    (succs.get(a) ?? succs.set(a, []).get(a)!).push(b);
    (preds.get(b) ?? preds.set(b, []).get(b)!).push(a);
    indeg.set(b, indeg.get(b)! + 1);
  }
  const rank = new Map<string, number>();
  const queue = ids.filter((id) => indeg.get(id) === 0);
  for (let head = 0; head < queue.length; head++) {
    const id = queue[head];
    const r = rank.get(id) ?? 0;
    rank.set(id, r);
    for (const s of succs.get(id) ?? []) {
      rank.set(s, Math.max(rank.get(s) ?? 0, r + 1));
      const d = indeg.get(s)! - 1;
      indeg.set(s, d);
      if (d === 0) queue.push(s);
    }
  }
  let maxRank = 0;
  for (const r of rank.values()) maxRank = Math.max(maxRank, r);
  for (const id of ids) if (indeg.get(id)! > 0) rank.set(id, ++maxRank); // on a cycle: park it below

  const ranks: string[][] = [];
  for (const id of ids) (ranks[rank.get(id)!] ??= []).push(id);
  // Barycenter sweep: order each rank by the mean column of its predecessors in earlier ranks.
  const column = new Map<string, number>();
  for (const row of ranks) {
    if (!row) continue;
    const key = new Map<string, number>();
    row.forEach((id, i) => {
      const ps = (preds.get(id) ?? []).filter((p) => column.has(p));
      key.set(id, ps.length ? ps.reduce((sum, p) => sum + column.get(p)!, 0) / ps.length : i);
    });
    row.sort((a, b) => key.get(a)! - key.get(b)! || order.get(a)! - order.get(b)!);
    row.forEach((id, i) => column.set(id, i));
  }

  // Rows: each rank wrapped into chunks of WRAP_COLUMNS, then centred on the widest row.
  const rows: string[][] = [];
  for (const row of ranks) {
    if (!row) continue;
    for (let i = 0; i < row.length; i += WRAP_COLUMNS) rows.push(row.slice(i, i + WRAP_COLUMNS));
  }
  const rowWidths = rows.map((row) => row.reduce((sum, id) => sum + sizes.get(id)!.w, 0) + GAP_X * (row.length - 1));
  const width = Math.max(0, ...rowWidths);
  const pos = new Map<string, Point>();
  let y = 0;
  rows.forEach((row, r) => {
    let x = (width - rowWidths[r]) / 2;
    let rowH = 0;
    for (const id of row) {
      const s = sizes.get(id)!;
      pos.set(id, { x, y });
      x += s.w + GAP_X;
      rowH = Math.max(rowH, s.h);
    }
    y += rowH + GAP_Y;
  });
  const height = Math.max(0, y - GAP_Y);
  const routes: Route[] = [];
  for (const [a, b] of edges) {
    const pa = pos.get(a);
    const pb = pos.get(b);
    if (!pa || !pb) continue;
    const sa = sizes.get(a)!;
    const sb = sizes.get(b)!;
    routes.push({
      from: a,
      to: b,
      points: [
        { x: pa.x + sa.w / 2, y: pa.y + sa.h },
        { x: pb.x + sb.w / 2, y: pb.y },
      ],
    });
  }
  return { pos, routes, width, height };
}

/**
 * Where the drawing may be cut into horizontal bands (dag_view.ts draws each band as its own SVG): y positions in
 * layout coordinates, ascending, about `band` pixels apart, each in the middle of a gap of at least `minGap`
 * between node boxes (and the header strips of expanded groups), so no node is ever cut. Expanded group boxes and
 * edges may cross a cut. Greedy from the top: a graph growing at the bottom keeps its earlier cuts.
 */
export function bandCuts(layout: Layout, band: number, minGap = 8): number[] {
  const spans: [number, number][] = [];
  for (const box of layout.boxes.values()) spans.push([box.y, box.y + (box.group ? GROUP_HEADER : box.h)]);
  spans.sort((a, b) => a[0] - b[0]);
  const cuts: number[] = [];
  let start = 0;
  let best: number | null = null; // the lowest cut so far within `band` of `start`
  let end = -Infinity;
  for (const [top, bottom] of spans) {
    if (end !== -Infinity && top - end >= minGap) {
      const cut = (top + end) / 2;
      if (cut - start > band && best !== null) {
        cuts.push(best);
        start = best;
        best = null;
      }
      if (cut - start > band) {
        cuts.push(cut); // no gap within `band`: cut at the first one after
        start = cut;
      } else {
        best = cut;
      }
    }
    end = Math.max(end, bottom);
  }
  return cuts;
}
