/**
 * Answers the kernel did not take because their question was closed meanwhile, and the line each leaves in the chat.
 *
 * Two tabs on one notebook (or a cell's widget and a `%aether resume` one) can answer the same question at the same
 * moment; the kernel takes the first and refuses the other (`wait_closed`). The refusal came back as an error under
 * the control, and the control went away a moment later with the question, so the typed answer vanished without a
 * word while the chat showed the other one. The view that sent it now says, under the question, that its answer was
 * not used and why. The notes are kept here, by wait token, for the page's life: the run's display is updated when
 * it comes to rest and JupyterLab draws the widget again, and the new view must say it too.
 */
import { h } from "./dom";
import type { OpenWait } from "./protocol";

export interface RefusedNote {
  token: string;
  /** The message id of the question bubble the note sits under; null when the question had none. */
  question: string | null;
  text: string;
}

/** The notes of this page, by wait token. */
export const REFUSED = new Map<string, RefusedNote>();

/** How an answer reads in a note: `'from tab2'`, `'Approve'`, `'a.csv, b.csv'`; "" when there is nothing to quote. */
export function answerWords(payload: unknown): string {
  if (typeof payload === "string") return payload ? `'${clip(payload)}'` : "";
  if (Array.isArray(payload)) return `'${clip(payload.map(String).join(", "))}'`;
  if (payload === null || payload === undefined) return "";
  try {
    return `'${clip(JSON.stringify(payload))}'`;
  } catch {
    return "";
  }
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** Records what the kernel said of a refused answer to `wait` (sent as `given`, see answerWords). */
export function refuse(wait: OpenWait, question: string | null, given: string, why: string): RefusedNote {
  const what = wait.kind === "time" ? "Your wake-up" : given ? `Your answer ${given}` : "Your answer";
  const to = question === null && wait.prompt ? ` to "${clip(wait.prompt)}"` : "";
  const note = { token: wait.token, question, text: `${what}${to} was not used: ${why.replace(/\.$/, "")}.` };
  REFUSED.set(wait.token, note);
  return note;
}

export function noteElement(note: RefusedNote): HTMLElement {
  return h("div", { class: "aether-refused", role: "alert", "data-wait-token": note.token }, note.text);
}
