/**
 * Big runs stay readable: sibling calls of one tool under one `gather` (same name, same predecessors, same
 * successors), or a loop of one tool (a chain where each call feeds only the next), become one group node
 * "name ×N" once there are `GROUP_MIN` of them. The same rule draws the static view (`static_view.py`).
 *
 * A group is a synthetic parent: its members become its children, edges between a member and an outside sibling
 * are redirected to the group (deduplicated), so the DAG's collapsible sub-graphs (toggle, status summary,
 * expanded box) serve groups as they serve nested agents. Its id, `group:<first member>`, stays the same while a
 * gather grows, so an expanded group stays expanded.
 */
import type { GraphNode, RunGraph } from "./protocol";
import { groupStatusOf } from "./status";

export const GROUP_MIN = 5;

export function groupId(first: string): string {
  return `group:${first}`;
}

function groupsOf(ids: string[], name: Map<string, string>, preds: Map<string, string[]>, succs: Map<string, string[]>): string[][] {
  const out: string[][] = [];
  const taken = new Set<string>();
  const buckets = new Map<string, string[]>();
  for (const id of ids) {
    const key = [name.get(id), [...(preds.get(id) ?? [])].sort().join("\u0001"), [...(succs.get(id) ?? [])].sort().join("\u0001")].join("\u0002");
    let list = buckets.get(key);
    if (!list) buckets.set(key, (list = []));
    list.push(id);
  }
  for (const members of buckets.values()) {
    if (members.length >= GROUP_MIN) {
      out.push(members);
      for (const m of members) taken.add(m);
    }
  }
  for (const id of ids) {
    if (taken.has(id)) continue;
    const p = preds.get(id) ?? [];
    if (p.length === 1 && name.get(p[0]) === name.get(id) && (succs.get(p[0]) ?? []).length === 1) continue; // not a chain's head
    const chain = [id];
    let current = id;
    for (;;) {
      const next = succs.get(current) ?? [];
      if (next.length !== 1 || taken.has(next[0]) || name.get(next[0]) !== name.get(id) || (preds.get(next[0]) ?? []).length !== 1) break;
      current = next[0];
      chain.push(current);
    }
    if (chain.length >= GROUP_MIN) {
      out.push(chain);
      for (const m of chain) taken.add(m);
    }
  }
  return out;
}

/** The graph with sibling groups made into synthetic parent nodes (kind "group"). Returns the input when none. */
export function groupGraph(graph: RunGraph): RunGraph {
  const byParent = new Map<string | null, string[]>();
  const name = new Map<string, string>();
  const byId = new Map<string, GraphNode>();
  for (const n of graph.nodes) {
    byId.set(n.id, n);
    name.set(n.id, n.name);
  }
  for (const n of graph.nodes) {
    const parent = n.parent != null && byId.has(n.parent) ? n.parent : null;
    let list = byParent.get(parent);
    if (!list) byParent.set(parent, (list = []));
    list.push(n.id);
  }
  const preds = new Map<string, string[]>();
  const succs = new Map<string, string[]>();
  for (const [a, b] of graph.edges) {
    (succs.get(a) ?? succs.set(a, []).get(a)!).push(b);
    (preds.get(b) ?? preds.set(b, []).get(b)!).push(a);
  }
  const memberOf = new Map<string, string>();
  const groupAt = new Map<string, GraphNode>(); // first member id -> group node
  for (const [parent, ids] of byParent) {
    for (const members of groupsOf(ids, name, preds, succs)) {
      const gid = groupId(members[0]);
      const shown = groupStatusOf(members.map((m) => byId.get(m)!.shown ?? byId.get(m)!.status)) ?? "PENDING";
      let start: number | null = null;
      let end: number | null = null;
      let open = false;
      for (const m of members) {
        const node = byId.get(m)!;
        memberOf.set(m, gid);
        if (node.started_at != null) start = start === null ? node.started_at : Math.min(start, node.started_at);
        if (node.ended_at != null) end = end === null ? node.ended_at : Math.max(end, node.ended_at);
        else open = true;
      }
      groupAt.set(members[0], {
        id: gid,
        name: `${name.get(members[0])} ×${members.length}`,
        kind: "group",
        status: shown,
        shown,
        parent,
        started_at: start,
        ended_at: open ? null : end,
        label: `${members.length} calls`,
        members,
      });
    }
  }
  if (!memberOf.size) return graph;
  const nodes: GraphNode[] = [];
  for (const n of graph.nodes) {
    const group = groupAt.get(n.id);
    if (group) nodes.push(group);
    const gid = memberOf.get(n.id);
    nodes.push(gid ? { ...n, parent: gid } : n);
  }
  const seen = new Set<string>();
  const edges: [string, string][] = [];
  for (const [a, b] of graph.edges) {
    const ga = memberOf.get(a);
    const gb = memberOf.get(b);
    // Inside one group the edge joins two members (siblings now); across, it joins the group to the outside.
    const from = ga !== undefined && ga !== gb ? ga : a;
    const to = gb !== undefined && ga !== gb ? gb : b;
    if (from === to) continue;
    const key = `${from}\u0001${to}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push([from, to]);
  }
  return { ...graph, nodes, edges };
}
