/**
 * Messages between the kernel and the aether_nb widgets; mirrors `aether_nb/notebook/protocol.py`.
 *
 * State lives in synced traits (kernel -> browser only); commands from the browser go as custom messages
 * (`model.send`), because trait sync from browser to kernel can stall on ipykernel 7.4 (see FACTS.md). Every
 * command carries a string `id` and gets exactly one `reply` with the same id. Keep both files in step.
 */

/** Status of one node of a run, as the runtime reports it. */
export type NodeStatus =
  | "PENDING"
  | "RUNNING"
  | "WAITING_HUMAN"
  | "WAITING_EXTERNAL"
  | "WAITING_TIME"
  | "WAITING_EVENT"
  | "DONE"
  | "FAILED"
  | "FAILED_TIMEOUT"
  | "SKIPPED"
  | "CANCELLED";

export type RunStatus = "pending" | "running" | "waiting" | "succeeded" | "failed" | "cancelled";

export type NodeKind = "tool" | "graph_fn" | "wait" | "llm" | "step" | "group";

export interface NodeError {
  type: string;
  message: string;
  traceback: string;
}

export interface NodeUsage {
  prompt_tokens: number;
  completion_tokens: number;
  /** US dollars, as the LLM service reports it (None for unpriced models). */
  cost_usd?: number | null;
  cached?: boolean;
}

export interface NodeLog {
  level: string;
  message: string;
  ts: number;
}

/** A call the node's code made to a context service (memory, KV, artifacts, a custom service): a journaled step. */
export interface ServiceCall {
  key: string;
  service: string;
  method: string;
  inputs: unknown;
  outputs: unknown;
  error: { type: string; message: string } | null;
  replayed: boolean;
  ts: number;
}

/** One node of the run graph. Timestamps are seconds since the epoch (Python `time.time()`). */
export interface GraphNode {
  id: string;
  name: string;
  kind: NodeKind | string;
  status: NodeStatus | string;
  /** The enclosing graph_fn node: its children form a collapsible sub-graph. */
  parent: string | null;
  started_at: number | null;
  ended_at: number | null;
  replayed?: boolean;
  /** The status the node shows (status.py): a live container's most urgent live descendant's; never live in a finished run. */
  shown?: string;
  /** A short preview of the call's arguments (`x=3, city='Oslo'`): tells sibling calls apart. */
  label?: string;
  /** The node failed with an error; the error itself comes with the details (`inspect`). */
  has_error?: boolean;
  /** One line: why it failed. */
  error_message?: string;
  /** A synthetic group's members (groups.ts). */
  members?: string[];
  /** Only when small (token counts, cost); always in the details. */
  usage?: NodeUsage | null;
  /** Where its body ran when not in the kernel (a Dask worker's address). */
  where?: string | null;
  /**
   * A sync body the node gave up on (Stop, a timeout), which Python cannot stop: "running" while it still runs in
   * its thread, then "returned" or "raised" ("ended": said before the kernel told which). Its effect may happen
   * though the node says stopped.
   */
  body?: "running" | "returned" | "raised" | "ended" | string | null;
}

/** One node's details, fetched by the inspector with an `inspect` command (the `graph` trait is slim). */
export interface NodeDetails {
  /** JSON previews. */
  inputs: unknown;
  outputs: unknown;
  error: NodeError | null;
  logs: NodeLog[] | null;
  warnings: string[] | null;
  usage: NodeUsage | null;
  /** Service calls the node's code made, in order. */
  calls?: ServiceCall[] | null;
}

/**
 * The `graph` trait: a slim snapshot of one run (what the DAG draws; details come from `inspect`). Edges join
 * siblings (nodes with the same parent).
 */
export interface RunGraph {
  run_id: string;
  name: string;
  status: RunStatus | string;
  nodes: GraphNode[];
  edges: [string, string][];
  /** A failed run's message, and the node its error was raised at, as the run recorded it (selected by the
   * widget); null: the agent's body raised it (a failure a loop or the body handled is never named). */
  error?: string | null;
  failed_node?: string | null;
  /** Set (to what to do) when the run's status says running but nothing executes it: the kernel that ran it
   * stopped (status.py CUT_OFF). No Stop, clock or message box then: it is resumed with `await run`. */
  cut_off?: string | null;
  /** Service calls made by the run's own body (not inside a node), in order. */
  calls?: ServiceCall[] | null;
}

export interface TextContent {
  text: string;
  /** "question" / "answer" / "message" for chat turns; a queued message is not read by the agent yet. */
  turn?: string;
  queued?: boolean;
  /** A message written to the agent that it never read: the run ended first (nothing will read it now). */
  unread?: boolean;
  /** What an interrupt() carries for whoever answers it. */
  payload?: unknown;
  /** A stream whose body failed or was stopped before it ended: its text is what came. */
  stopped?: boolean;
}

export interface FilesContent {
  text: string;
  turn?: string;
  files: FileContent[];
}

export interface ImageContent {
  artifact_uri: string;
  mime: string;
  name: string;
  size: number;
  alt?: string | null;
  /** Set for images up to 2 MB (`MAX_INLINE_IMAGE`). */
  data_url?: string | null;
}

export interface FileContent {
  artifact_uri: string;
  mime: string;
  name: string;
  size: number;
}

export interface ProgressContent {
  title: string;
  current: number;
  total: number | null;
  subtitle: string | null;
  done: boolean;
  /** Its block ended with an exception (the run failed or was stopped) before it was done. */
  stopped?: boolean;
}

interface MessageBase {
  id: string;
  role: "assistant" | "user";
  final: boolean;
  node_id: string | null;
}

/** One chat message. A streaming bubble keeps its id while its text grows. */
export type ChatMessage =
  | (MessageBase & { type: "text" | "markdown" | "stream"; content: TextContent })
  | (MessageBase & { type: "image"; content: ImageContent })
  | (MessageBase & { type: "file"; content: FileContent })
  | (MessageBase & { type: "files"; content: FilesContent })
  | (MessageBase & { type: "progress"; content: ProgressContent });

export type WaitKind = "text" | "choice" | "approval" | "files";

/** An open question the run is waiting on. */
export interface OpenWait {
  token: string;
  kind: WaitKind | string;
  prompt: string;
  options: string[] | null;
  node_id: string | null;
  /** Epoch seconds. */
  deadline: number | null;
  meta: { accept?: string[]; multiple?: boolean; message?: boolean; flow?: string; value?: unknown };
}

/** Synced traits of RunWidget (aether_nb/notebook/widget.py). */
export interface RunWidgetModel {
  graph: RunGraph | Record<string, never>;
  messages: ChatMessage[];
  waits: OpenWait[];
  notice: string;
  /** The run's static view (set once it finished), saved into the notebook for a reopen without this kernel. */
  static_html: string;
  /** Why the run cannot be resumed in a new process (a secret among its inputs); "" when it can. */
  not_resumable: string;
  /** The widget's model id, to save that static view under it. */
  view_id: string;
}

// Commands, browser -> kernel.

export interface UploadFile {
  name: string;
  mime: string;
  data_b64: string;
}

export type Command =
  | { type: "answer"; id: string; token: string; payload: unknown }
  | { type: "upload"; id: string; token: string; files: UploadFile[] }
  | { type: "stop"; id: string }
  | { type: "download"; id: string; artifact_uri: string }
  | { type: "inspect"; id: string; node_id: string }
  | { type: "message"; id: string; text: string }
  | { type: "view"; id: string; key: string }
  | { type: "unview"; id: string; key: string }
  | { type: "ping"; id: string };

/** Distributes `Omit` over the union, so a command can be written without its `id`. */
export type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, "id"> : never) : never;

/** The one reply each command gets, kernel -> browser. Extra fields depend on the command (download: name...). */
export type Reply =
  | { type: "reply"; id: string; ok: true; [extra: string]: unknown }
  | { type: "reply"; id: string; ok: false; error: string; code?: string };

export interface DownloadReply {
  type: "reply";
  id: string;
  ok: true;
  name: string;
  mime: string;
  data_b64: string;
}

export interface InspectReply {
  type: "reply";
  id: string;
  ok: true;
  node: NodeDetails;
}

export function isReply(msg: unknown): msg is Reply {
  return (
    typeof msg === "object" &&
    msg !== null &&
    (msg as Reply).type === "reply" &&
    typeof (msg as Reply).id === "string"
  );
}

export { type StatusTone, isActiveRun, statusTone, toneSeverity } from "./status";
