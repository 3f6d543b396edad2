/**
 * Request/reply over anywidget custom messages: `model.send(command)` out, `{type: "reply", id}` back.
 *
 * Commands never travel as trait sync (FACTS.md: browser -> kernel trait sync can stall for good on ipykernel
 * 7.4). A request that gets no reply within `timeoutMs` rejects, so a control never stays disabled forever.
 */
import type { AnyModel } from "@anywidget/types";
import { type CommandBody, type Reply, type RunWidgetModel, isReply } from "./protocol";

/** An error reply (or no reply): `code` is the kernel's error code (`wait_closed`: the question was answered or
 * closed meanwhile), "" when the kernel sent none. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly code = "",
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (reply: Reply & { ok: true }) => void;
  reject: (error: Error) => void;
  timer: number;
}

export class Rpc {
  private readonly pending = new Map<string, Pending>();
  private counter = 0;
  private readonly prefix = Math.random().toString(36).slice(2, 8);
  private readonly onMessage = (msg: unknown): void => {
    if (!isReply(msg)) return;
    const entry = this.pending.get(msg.id);
    if (!entry) return;
    this.pending.delete(msg.id);
    window.clearTimeout(entry.timer);
    if (msg.ok) entry.resolve(msg);
    else entry.reject(new RequestError(msg.error || "the kernel refused the request", msg.code ?? ""));
  };

  constructor(
    private readonly model: AnyModel<RunWidgetModel>,
    private readonly timeoutMs = 60_000,
  ) {
    model.on("msg:custom", this.onMessage);
  }

  /** Sends a command with a fresh id; resolves with the ok reply, rejects with the error reply's message. */
  request(body: CommandBody, timeoutMs = this.timeoutMs): Promise<Reply & { ok: true }> {
    const id = `${this.prefix}-${++this.counter}`;
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError(`no reply from the kernel after ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.model.send({ ...body, id });
      } catch (error) {
        this.pending.delete(id);
        window.clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  dispose(): void {
    this.model.off("msg:custom", this.onMessage);
    for (const entry of this.pending.values()) window.clearTimeout(entry.timer);
    this.pending.clear();
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
