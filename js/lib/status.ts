/**
 * One status vocabulary: the words a person reads, and the colour family (tone) of every run and node status.
 * Mirrors `aether_nb/runtime/status.py` (a unit test compares the two tables): keep both in step.
 *
 * A node's `shown` status (sent by the kernel) already folds in the rules that keep the widget truthful: a live
 * node containing others shows its most urgent live descendant, an ended one its own status (a failure it handled
 * stays on the failed call), and nothing in a finished run still runs or waits.
 */

export const NODE_WORDS: Record<string, string> = {
  PENDING: "pending",
  RUNNING: "running",
  WAITING_HUMAN: "waiting for you",
  WAITING_EXTERNAL: "waiting (external)",
  WAITING_TIME: "waiting (timer)",
  WAITING_EVENT: "waiting (event)",
  DONE: "done",
  FAILED: "failed",
  FAILED_TIMEOUT: "timed out",
  SKIPPED: "skipped",
  CANCELLED: "stopped",
};

export const RUN_WORDS: Record<string, string> = {
  pending: "starting",
  running: "running",
  waiting: "waiting for you",
  succeeded: "done",
  failed: "failed",
  cancelled: "stopped",
};

/** Colour families, best to worst: an ended group of calls shows the worst tone among its members. */
export const TONES = ["done", "skipped", "stopped", "pending", "running", "waiting", "failed"] as const;

export type StatusTone = (typeof TONES)[number] | "unknown";

export function statusTone(status: string): StatusTone {
  const upper = (status || "").toUpperCase();
  if (upper.startsWith("WAITING")) return "waiting";
  switch (upper) {
    case "PENDING":
      return "pending";
    case "RUNNING":
      return "running";
    case "DONE":
    case "SUCCEEDED":
      return "done";
    case "FAILED":
    case "FAILED_TIMEOUT":
      return "failed";
    case "SKIPPED":
      return "skipped";
    case "CANCELLED":
      return "stopped";
    default:
      return "unknown";
  }
}

/** Higher is worse; unknown statuses rank below everything. */
export function severity(status: string): number {
  return (TONES as readonly string[]).indexOf(statusTone(status));
}

export function toneSeverity(tone: StatusTone): number {
  return (TONES as readonly string[]).indexOf(tone);
}

/** The words for a node or run status; an unknown status is lower-cased, never shown as a raw enum. */
export function statusWords(status: string): string {
  return NODE_WORDS[status] ?? RUN_WORDS[status] ?? (status || "").toLowerCase().replace(/_/g, " ");
}

export function worstOf(statuses: Iterable<string>): string | null {
  let worst: string | null = null;
  for (const s of statuses) if (worst === null || severity(s) > severity(worst)) worst = s;
  return worst;
}

/** Whether a node status is still going (pending, running or waiting). */
export function isLive(status: string): boolean {
  const tone = statusTone(status);
  return tone === "pending" || tone === "running" || tone === "waiting";
}

/** What a group of sibling calls shows: its most urgent live member while any is live, else its worst (status.py). */
export function groupStatusOf(statuses: Iterable<string>): string | null {
  const members = [...statuses];
  return worstOf(members.filter(isLive)) ?? worstOf(members);
}

export function isActiveRun(status: string): boolean {
  return status === "running" || status === "waiting" || status === "pending";
}

/** What a run is said to be whose status says running while nothing executes it (status.py `CUT_OFF`). */
export const CUT_OFF = "cut off (the kernel stopped while it ran)";
