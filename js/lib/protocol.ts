/**
 * Messages between the kernel and the aether_nb widgets.
 *
 * State lives in synced traits (kernel -> browser only); commands from the browser go as custom messages,
 * because trait sync from browser to kernel can stall on ipykernel 7.4 (see FACTS.md). The Python side mirrors
 * these types; keep both in step.
 */

/** Status of one node of a run, as the runtime reports it. WAITING_* covers every kind of wait. */
export type NodeStatus =
  | "PENDING"
  | "RUNNING"
  | "DONE"
  | "FAILED"
  | "FAILED_TIMEOUT"
  | "SKIPPED"
  | "CANCELLED"
  | `WAITING_${string}`;

/** One node of the run graph. Timestamps are seconds since the epoch (Python `time.time()`). */
export interface GraphNode {
  id: string;
  name: string;
  kind: string;
  status: NodeStatus | string;
  parent: string | null;
  started_at: number | null;
  ended_at: number | null;
}

/** The `graph` trait of RunWidget: a snapshot of one run. */
export interface RunGraph {
  run_id: string;
  name: string;
  status: string;
  nodes: GraphNode[];
  /** Directed edges as [from_id, to_id]. */
  edges: [string, string][];
}

/** Synced traits of RunWidget (aether_nb/notebook/widget.py). */
export interface RunWidgetModel {
  graph: RunGraph | Record<string, never>;
}

/** Colour family of a status, used as a CSS modifier class. */
export type StatusTone = "pending" | "running" | "waiting" | "done" | "failed" | "skipped" | "unknown";

export function statusTone(status: string): StatusTone {
  if (status.startsWith("WAITING")) return "waiting";
  switch (status) {
    case "PENDING":
      return "pending";
    case "RUNNING":
      return "running";
    case "DONE":
      return "done";
    case "FAILED":
    case "FAILED_TIMEOUT":
      return "failed";
    case "SKIPPED":
    case "CANCELLED":
      return "skipped";
    default:
      return "unknown";
  }
}
