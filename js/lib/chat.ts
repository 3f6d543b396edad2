/**
 * The chat panel: message bubbles (updated in place, keyed by message id), one input control per open wait, and
 * a message box for writing to the agent.
 *
 * Each question shows once: a control whose question already has a bubble (an `ask_*`) sits right under that
 * bubble without repeating the prompt; a wait nobody announced (a DualStageTool, a StateGraph `interrupt()`)
 * has its question bubble made by the kernel, payload included. Markdown renders the same everywhere (marked +
 * DOMPurify); uploaded files are chips with name and size. Answered questions and their answers stay.
 *
 * A control's command goes out with `Rpc.request`; an error reply is shown under the control, which stays
 * enabled so the user can try again; an ok reply disables the control until the `waits` trait drops its token.
 * An answer refused because its question was answered meanwhile (from another tab or view) leaves a line under the
 * question saying so (refused.ts): the control goes away with the question, and the answer must not vanish unsaid.
 * The message box sends `message` commands: the agent reads them with `context.channel().receive()`; one sent
 * while it is not receiving shows as "not read yet" until it does, and as "not read" if the run ends first.
 *
 * Why the message box points to an open question: it is the wide box at the bottom, and people typed the answer to
 * a question there instead of in the question's own small box. Such a message is only queued (the agent may never
 * call `receive()`), and the question kept waiting while the bubble said "queued: ... receive()". While a question
 * is open (and the agent is not in `receive()`) the box's placeholder says to answer the question first; a message
 * sent anyway is still queued (an agent may read it later), its note says in plain words that the agent has not
 * read it and that its question still waits, and the question is outlined, its answer box (a text question's)
 * getting the focus.
 */
import { fileToBase64, formatBytes, formatTime, h, preview, renderMarkdown, saveBytes, setText } from "./dom";
import type { ChatMessage, DownloadReply, FileContent, OpenWait, UploadFile } from "./protocol";
import { REFUSED, type RefusedNote, answerWords, noteElement, refuse } from "./refused";
import { RequestError, type Rpc, errorText } from "./rpc";
import type { Drafts } from "./view_state";

interface Bubble {
  el: HTMLElement;
  key: string;
  msg: ChatMessage;
}

interface WaitControl {
  el: HTMLElement;
  error: HTMLElement;
  key: string;
  /** Answered with an ok reply: stays disabled until the token leaves the `waits` trait. */
  answered: boolean;
  /** The question bubble it sits under (its prompt is not repeated), if any. */
  under: string | null;
}

/** Where a stream's cursor and stopped note go: inside its last paragraph (or list item, heading), so they sit at
 * the end of the text rather than on a line of their own; the bubble itself when the text is empty or ends in a
 * block such as a code fence. */
function streamTail(el: HTMLElement): HTMLElement {
  let last = el.lastElementChild;
  while (last && (last.tagName === "UL" || last.tagName === "OL")) last = last.lastElementChild;
  if (last && /^(P|LI|H[1-6])$/.test(last.tagName)) return last as HTMLElement;
  return el;
}

/** Under a message the agent has not read yet (static_view.py QUEUED_NOTE says the same); with a question open. */
const QUEUED_NOTE = "not read yet: the agent reads messages only when it asks for one";
const QUEUED_WHILE_ASKED = `${QUEUED_NOTE}, and its question is still waiting for your answer`;
/** The message box's placeholder: while the agent listens, while a question waits, otherwise. */
const BOX_LISTENING = "The agent is waiting for your message…";
const BOX_ASKED = "Answer the question above first: the agent is not reading messages now";
const BOX_IDLE = "Message the agent…";

function isMessageWait(wait: OpenWait): boolean {
  return Boolean(wait.meta?.message);
}

export class ChatPanel {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly waitList: HTMLElement;
  private readonly box: HTMLElement;
  private readonly boxInput: HTMLInputElement;
  private readonly boxSend: HTMLButtonElement;
  private readonly boxError: HTMLElement;
  private readonly bubbles = new Map<string, Bubble>();
  private readonly waits = new Map<string, WaitControl>();
  /** The refused-answer lines drawn here, by wait token; and every wait token this panel had a control for. */
  private readonly notes = new Map<string, HTMLElement>();
  private readonly tokens = new Set<string>();
  private order: string[] = [];
  private inert = false;
  private active = false;
  private listening = false;

  constructor(private readonly rpc: Rpc) {
    this.list = h("div", { class: "aether-messages", role: "log" });
    this.waitList = h("div", { class: "aether-waits" });
    this.boxInput = h("input", { type: "text", class: "aether-text-input", placeholder: BOX_IDLE, "aria-label": "Message the agent" });
    this.boxSend = h("button", { class: "aether-button", "data-action": "message" }, "Send");
    this.boxError = h("div", { class: "aether-control-error", role: "alert" });
    this.box = h("div", { class: "aether-message-box", hidden: "" }, h("div", { class: "aether-wait-row" }, this.boxInput, this.boxSend), this.boxError);
    this.el = h("div", { class: "aether-chat" }, this.list, this.waitList, this.box);
    this.boxInput.addEventListener("keydown", this.onBoxKey);
    this.boxSend.addEventListener("click", this.onBoxSend);
  }

  private readonly onBoxKey = (event: KeyboardEvent): void => {
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      event.stopPropagation();
      this.onBoxSend();
    }
  };

  private readonly onBoxSend = (): void => {
    const text = this.boxInput.value;
    if (!text.trim() || this.inert) return;
    this.boxError.textContent = "";
    this.boxInput.disabled = this.boxSend.disabled = true;
    this.box.dataset.state = "sending";
    this.rpc
      .request({ type: "message", text })
      .then((reply) => {
        this.boxInput.value = "";
        this.box.dataset.state = String(reply.outcome ?? "sent");
        // Queued while a question waits: most likely its answer, typed in the wrong box. Point to where it goes.
        const question = reply.outcome === "queued" ? this.openQuestion() : null;
        if (question) this.pointTo(question);
      })
      .catch((e: unknown) => {
        this.boxError.textContent = errorText(e);
        this.box.dataset.state = "error";
      })
      .finally(() => {
        if (!this.inert) this.boxInput.disabled = this.boxSend.disabled = false;
      });
  };

  /** Whether the run can still hear the user (active run and a live kernel): shows or hides the message box. */
  setActive(active: boolean): void {
    this.active = active;
    this.refreshBox();
  }

  /** No kernel behind the widget any more: every control stays visible but disabled. */
  setInert(inert: boolean): void {
    this.inert = inert;
    for (const el of this.el.querySelectorAll<HTMLInputElement | HTMLButtonElement>("input, button")) {
      if (el.closest(".aether-bubble") && !el.closest(".aether-wait")) continue;
      if (inert) el.disabled = true;
    }
    this.el.dataset.inert = String(inert);
    this.refreshBox();
  }

  private refreshBox(): void {
    const asked = !this.listening && this.openQuestion() !== null;
    this.box.hidden = !this.active;
    this.box.classList.toggle("aether-listening", this.listening);
    this.boxInput.placeholder = this.listening ? BOX_LISTENING : asked ? BOX_ASKED : BOX_IDLE;
    this.box.dataset.listening = String(this.listening);
    this.box.dataset.asked = String(asked);
    if (this.inert) this.boxInput.disabled = this.boxSend.disabled = true;
    const note = asked ? QUEUED_WHILE_ASKED : QUEUED_NOTE;
    for (const el of this.list.querySelectorAll<HTMLElement>(".aether-queued-note[data-note='queued']")) setText(el, note);
  }

  /** The first question this panel shows a control for that the person has not answered (a sleep asks nothing). */
  private openQuestion(): WaitControl | null {
    for (const control of this.waits.values()) {
      if (!control.answered && control.el.dataset.waitKind !== "time") return control;
    }
    return null;
  }

  /** Outlines a question's control until it is answered, and moves the focus to its answer box if it has one
   * (never to a button: a second Enter must not approve or choose anything). */
  private pointTo(control: WaitControl): void {
    if (this.inert) return;
    control.el.classList.add("aether-attention");
    control.el.scrollIntoView({ block: "nearest" });
    control.el.querySelector<HTMLInputElement>("input.aether-text-input:not([disabled])")?.focus();
  }

  updateMessages(messages: ChatMessage[]): void {
    const stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 24;
    const seen = new Set<string>();
    for (const msg of messages) {
      seen.add(msg.id);
      const key = JSON.stringify(msg);
      let bubble = this.bubbles.get(msg.id);
      if (!bubble) {
        bubble = { el: h("div"), key: "", msg };
        this.bubbles.set(msg.id, bubble);
      }
      bubble.msg = msg;
      if (bubble.key !== key) {
        bubble.key = key;
        this.fillBubble(bubble.el, msg);
      }
    }
    for (const [id, bubble] of this.bubbles) {
      if (!seen.has(id)) {
        bubble.el.remove();
        this.bubbles.delete(id);
      }
    }
    this.order = messages.map((m) => m.id);
    this.arrange();
    this.refreshBox(); // (a new queued message's note says whether a question waits)
    this.el.dataset.messageCount = String(messages.length);
    if (stick) this.list.scrollTop = this.list.scrollHeight;
  }

  private fillBubble(el: HTMLElement, msg: ChatMessage): void {
    const turn = "turn" in msg.content ? msg.content.turn : undefined;
    const queued = "queued" in msg.content && msg.content.queued;
    const unread = "unread" in msg.content && msg.content.unread;
    el.className = `aether-bubble aether-${msg.role === "user" ? "user" : "assistant"} aether-msg-${msg.type}${turn ? ` aether-turn-${turn}` : ""}${queued || unread ? " aether-queued" : ""}`;
    el.dataset.messageId = msg.id;
    el.dataset.type = msg.type;
    el.dataset.final = String(msg.final);
    delete el.dataset.stopped; // (set again below for a stopped stream or progress bar)
    if (turn) el.dataset.turn = turn;
    if (queued) el.dataset.queued = "true";
    else delete el.dataset.queued;
    if (unread) el.dataset.unread = "true";
    else delete el.dataset.unread;
    if (msg.node_id) el.dataset.nodeId = msg.node_id;
    switch (msg.type) {
      case "markdown":
        renderMarkdown(el, msg.content.text ?? "");
        break;
      case "text":
      case "stream":
        if (msg.type === "text" && turn === "question") {
          // A question reads the same here as wherever else it is shown: markdown.
          el.classList.add("aether-msg-markdown");
          renderMarkdown(el, msg.content.text ?? "");
          if (msg.content.payload !== undefined) {
            el.append(h("pre", { class: "aether-payload", "data-section": "payload" }, preview(msg.content.payload)));
          }
          break;
        }
        if (msg.type === "stream") {
          // A stream is a model's reply, which is markdown: rendered as it grows (marked + DOMPurify), the cursor
          // and the stopped note at the end of its last block.
          el.classList.add("aether-msg-markdown");
          renderMarkdown(el, msg.content.text ?? "");
          const tail = streamTail(el);
          if (!msg.final) tail.append(h("span", { class: "aether-cursor" }, "▍"));
          if (msg.content.stopped) {
            el.dataset.stopped = "true";
            const gap = /\s$/.test(msg.content.text ?? "") ? "" : " ";
            tail.append(h("span", { class: "aether-muted aether-stopped-note" }, `${gap}… (stopped)`));
          }
          break;
        }
        el.textContent = msg.content.text ?? "";
        if (turn === "answer" && !(msg.content.text ?? "").trim()) {
          // An empty answer (Enter in an empty box is accepted): said in words, not as a blank pill.
          el.textContent = "";
          el.append(h("em", { class: "aether-empty-answer" }, "(empty answer)"));
        }
        // (the same words as the saved static view, static_view.py QUEUED_NOTE / UNREAD_NOTE; refreshBox says
        // whether a question waits too)
        if (queued) el.append(h("div", { class: "aether-muted aether-queued-note", "data-note": "queued" }, QUEUED_NOTE));
        else if (unread) el.append(h("div", { class: "aether-muted aether-queued-note", "data-note": "unread" }, "not read: the run ended"));
        break;
      case "files":
        el.replaceChildren(...(msg.content.files ?? []).map((f) => this.chip(f)));
        if (!msg.content.files?.length) el.textContent = "(no files)";
        break;
      case "image": {
        const c = msg.content;
        if (c.data_url) {
          el.replaceChildren(h("img", { src: c.data_url, alt: c.alt ?? c.name ?? "", title: c.name ?? "" }));
        } else {
          el.replaceChildren(this.downloadLink(c.artifact_uri, `${c.name} (${formatBytes(c.size)}, image)`));
        }
        break;
      }
      case "file":
        el.replaceChildren(this.chip(msg.content));
        break;
      case "progress": {
        const p = msg.content;
        const fraction = p.total ? Math.max(0, Math.min(1, p.current / p.total)) : null;
        const moving = fraction === null && !p.done && !p.stopped;
        const bar = h("div", { class: `aether-progress-bar${moving ? " aether-indeterminate" : ""}` });
        bar.style.width = `${((p.done ? 1 : fraction ?? (p.stopped ? 0 : 0.3)) * 100).toFixed(1)}%`;
        const label = p.total ? `${p.current} / ${p.total}` : String(p.current);
        const end = p.done ? " · done" : p.stopped ? " · stopped" : "";
        el.replaceChildren(
          h("div", { class: "aether-progress-title" }, p.title, h("span", { class: "aether-muted" }, ` ${label}${end}`)),
          h("div", { class: "aether-progress", role: "progressbar", "aria-valuenow": String(p.current), "aria-valuemax": String(p.total ?? "") }, bar),
          p.subtitle ? h("div", { class: "aether-muted" }, p.subtitle) : "",
        );
        el.dataset.done = String(p.done);
        if (p.stopped) el.dataset.stopped = "true";
        break;
      }
      default: {
        const unknown = msg as { type: string; content: unknown };
        el.textContent = `[${unknown.type}] ${JSON.stringify(unknown.content)}`;
      }
    }
  }

  /** A file as a chip: name and size, a click downloads it from the notebook's store. */
  private chip(file: FileContent): HTMLElement {
    const chip = this.downloadLink(file.artifact_uri, `${file.name} · ${formatBytes(file.size)}`);
    chip.classList.add("aether-file-chip");
    chip.dataset.fileName = file.name;
    return chip;
  }

  private downloadLink(uri: string, label: string): HTMLElement {
    const error = h("div", { class: "aether-control-error", role: "alert" });
    const link = h("a", { href: "#", class: "aether-download", "data-action": "download", "data-artifact-uri": uri }, label);
    link.addEventListener("click", (event) => {
      event.preventDefault();
      error.textContent = "";
      link.classList.add("aether-busy");
      this.rpc
        .request({ type: "download", artifact_uri: uri })
        .then((reply) => {
          const r = reply as unknown as DownloadReply;
          saveBytes(r.name, r.mime, r.data_b64);
        })
        .catch((e: unknown) => {
          error.textContent = errorText(e);
        })
        .finally(() => link.classList.remove("aether-busy"));
    });
    return h("span", { class: "aether-link-wrap" }, link, error);
  }

  updateWaits(waits: OpenWait[]): void {
    const seen = new Set<string>();
    this.listening = false;
    for (const wait of waits) {
      if (isMessageWait(wait)) {
        this.listening = true; // receive(): the message box is its control
        continue;
      }
      seen.add(wait.token);
      this.tokens.add(wait.token);
      const key = JSON.stringify(wait);
      const existing = this.waits.get(wait.token);
      if (existing && existing.key === key) continue;
      const control = this.createWait(wait, key);
      if (existing) existing.el.replaceWith(control.el);
      this.waits.set(wait.token, control);
    }
    for (const [token, control] of this.waits) {
      if (!seen.has(token)) {
        control.el.remove();
        this.waits.delete(token);
      }
    }
    this.arrange();
    this.refreshBox();
    this.el.dataset.waitCount = String(seen.size);
  }

  /** The question bubble a wait answers: the latest question with its prompt that no other control took. */
  private questionFor(wait: OpenWait, taken: Set<string>): string | null {
    for (let i = this.order.length - 1; i >= 0; i--) {
      const bubble = this.bubbles.get(this.order[i]);
      if (!bubble || taken.has(bubble.msg.id) || bubble.msg.role !== "assistant") continue;
      const content = bubble.msg.content as { text?: string; turn?: string };
      if (content.turn === "question" && content.text === wait.prompt) return bubble.msg.id;
    }
    return null;
  }

  /** Puts bubbles in message order, each control under its question (or in the list below, with its prompt). */
  private arrange(): void {
    const taken = new Set<string>();
    const under = new Map<string, WaitControl>();
    for (const control of this.waits.values()) {
      const wait = JSON.parse(control.key) as OpenWait;
      const question = this.questionFor(wait, taken);
      if (question) {
        taken.add(question);
        under.set(question, control);
      }
      if (question !== control.under) {
        control.under = question;
        control.el.classList.toggle("aether-under-question", question !== null);
      }
    }
    const notesUnder = new Map<string, RefusedNote[]>();
    for (const note of REFUSED.values()) {
      if (note.question !== null && this.bubbles.has(note.question)) {
        notesUnder.set(note.question, [...(notesUnder.get(note.question) ?? []), note]);
      }
    }
    const desired: HTMLElement[] = [];
    for (const id of this.order) {
      const bubble = this.bubbles.get(id);
      if (!bubble) continue;
      desired.push(bubble.el);
      const control = under.get(id);
      if (control) desired.push(control.el);
      for (const note of notesUnder.get(id) ?? []) desired.push(this.noteEl(note));
    }
    let cursor = this.list.firstElementChild;
    for (const el of desired) {
      if (el === cursor) cursor = cursor.nextElementSibling;
      else this.list.insertBefore(el, cursor);
    }
    for (const control of this.waits.values()) {
      if (control.under === null && control.el.parentElement !== this.waitList) this.waitList.append(control.el);
    }
    for (const note of REFUSED.values()) {
      // (a question with no bubble: its control was in the list below, and so is the note, in the panel it was in)
      if ((note.question === null || !this.bubbles.has(note.question)) && this.tokens.has(note.token)) {
        const el = this.noteEl(note);
        if (el.parentElement !== this.waitList) this.waitList.append(el);
      }
    }
  }

  private noteEl(note: RefusedNote): HTMLElement {
    let el = this.notes.get(note.token);
    if (!el || el.textContent !== note.text) {
      const made = noteElement(note);
      el?.replaceWith(made);
      el = made;
      this.notes.set(note.token, el);
    }
    return el;
  }

  private createWait(wait: OpenWait, key: string): WaitControl {
    const error = h("div", { class: "aether-control-error", role: "alert" });
    const el = h("div", { class: "aether-wait", "data-wait-token": wait.token, "data-wait-kind": wait.kind });
    const control: WaitControl = { el, error, key, answered: false, under: null };
    // Shown only when no question bubble above says it (see arrange); markdown like the bubble.
    const prompt = h("div", { class: "aether-wait-prompt" });
    renderMarkdown(prompt, wait.prompt ?? "");
    el.append(prompt);
    if (wait.meta?.flow && wait.meta.value !== undefined && wait.meta.value !== null && wait.meta.value !== wait.prompt) {
      el.append(h("pre", { class: "aether-payload aether-wait-payload", "data-section": "payload" }, preview(wait.meta.value)));
    }
    if (wait.deadline != null && wait.kind !== "time") {
      el.append(h("div", { class: "aether-muted aether-deadline" }, `answer by ${formatTime(wait.deadline)}`));
    }
    const row = h("div", { class: "aether-wait-row" });
    el.append(row, error);
    const inputs: (HTMLInputElement | HTMLButtonElement)[] = [];
    // `given`: the answer as a refusal quotes it (see refused.ts)
    const send = (build: () => Promise<Parameters<Rpc["request"]>[0]>, given: string): void => {
      if (control.answered || this.inert) return;
      error.textContent = "";
      for (const input of inputs) input.disabled = true;
      el.dataset.state = "sending";
      build()
        .then((body) => this.rpc.request(body))
        .then(() => {
          control.answered = true;
          el.dataset.state = "answered";
          this.refreshBox();
        })
        .catch((e: unknown) => {
          if (e instanceof RequestError && e.code === "wait_closed") {
            // Answered meanwhile elsewhere (or closed): nothing to try again; say so where it stays.
            control.answered = true;
            el.dataset.state = "refused";
            refuse(wait, control.under, given, e.message);
            this.arrange();
            this.refreshBox();
            return;
          }
          error.textContent = errorText(e);
          el.dataset.state = "error";
          if (!this.inert) for (const input of inputs) input.disabled = false;
        });
    };
    const answer = (payload: unknown) => send(async () => ({ type: "answer", token: wait.token, payload }), answerWords(payload));

    const options = wait.options ?? [];
    if (wait.kind === "time") {
      // context.sleep(): nothing to answer; it goes on by itself at its deadline, or now if woken
      const until = wait.deadline != null ? `Sleeping until ${formatTime(wait.deadline)}` : "Sleeping";
      const button = h("button", { class: "aether-button", "data-action": "wake" }, "Wake now");
      button.addEventListener("click", () => answer(null));
      inputs.push(button);
      row.append(h("span", { class: "aether-muted aether-sleeping" }, until), button);
    } else if (wait.kind === "choice" || wait.kind === "approval" || (options.length && wait.kind !== "files" && wait.kind !== "text")) {
      options.forEach((option, i) => {
        const primary = wait.kind === "approval" && i === 0;
        const button = h("button", { class: `aether-button${primary ? " aether-primary" : ""}`, "data-option": option }, option);
        button.addEventListener("click", () => answer(option));
        inputs.push(button);
        row.append(button);
      });
    } else if (wait.kind === "files") {
      const file = h("input", { type: "file", class: "aether-file" });
      if (wait.meta?.accept?.length) file.accept = wait.meta.accept.join(",");
      file.multiple = Boolean(wait.meta?.multiple);
      const button = h("button", { class: "aether-button aether-primary", "data-action": "upload" }, "Upload");
      button.addEventListener("click", () => {
        const chosen = Array.from(file.files ?? []);
        if (!chosen.length) {
          error.textContent = "choose a file first";
          return;
        }
        send(async () => {
          const files: UploadFile[] = await Promise.all(
            chosen.map(async (f) => ({ name: f.name, mime: f.type || "application/octet-stream", data_b64: await fileToBase64(f) })),
          );
          return { type: "upload", token: wait.token, files };
        }, answerWords(chosen.map((f) => f.name)));
      });
      inputs.push(file, button);
      row.append(file, button);
    } else {
      const input = h("input", { type: "text", class: "aether-text-input", placeholder: "Type an answer…" });
      const button = h("button", { class: "aether-button aether-primary", "data-action": "send" }, "Send");
      const submit = (): void => answer(input.value);
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.isComposing) {
          event.preventDefault();
          event.stopPropagation(); // keep JupyterLab's notebook shortcuts out of the widget
          // (a held Enter that sent a message from the message box, which moved the focus here, answers nothing)
          if (!event.repeat) submit();
        }
      });
      button.addEventListener("click", submit);
      inputs.push(input, button);
      row.append(input, button);
    }
    if (this.inert) for (const input of inputs) input.disabled = true;
    return control;
  }

  /** The text boxes that hold what the person types, by draft key (a wait's token; "" the message box). */
  private textBoxes(): Map<string, HTMLInputElement> {
    const boxes = new Map<string, HTMLInputElement>([["", this.boxInput]]);
    for (const input of this.el.querySelectorAll<HTMLInputElement>(".aether-wait input.aether-text-input")) {
      const token = input.closest<HTMLElement>(".aether-wait")?.dataset.waitToken;
      if (token) boxes.set(token, input);
    }
    return boxes;
  }

  /** What the person typed and has not sent, and which box has the focus (see view_state.ts). */
  drafts(): Drafts {
    const texts: Record<string, string> = {};
    let focused: string | null = null;
    for (const [key, input] of this.textBoxes()) {
      if (input.value) texts[key] = input.value;
      if (input === document.activeElement) focused = key;
    }
    return { texts, focused };
  }

  /** Puts back what a former view of the run held in its boxes (into those that are empty here). */
  restoreDrafts(drafts: Drafts): void {
    for (const [key, input] of this.textBoxes()) {
      const text = drafts.texts[key];
      if (text && !input.value) input.value = text;
    }
  }

  /** Gives the focus back to the box that had it in the former view (caret at the end of its text), unless the
   * person has put the focus somewhere else since. */
  refocus(key: string): void {
    const box = this.textBoxes().get(key);
    const active = document.activeElement;
    if (!box || box.disabled || !box.isConnected || (active && active !== document.body)) return;
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  dispose(): void {
    this.boxInput.removeEventListener("keydown", this.onBoxKey);
    this.boxSend.removeEventListener("click", this.onBoxSend);
    this.bubbles.clear();
    this.waits.clear();
    this.notes.clear();
  }
}
