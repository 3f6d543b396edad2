/**
 * The chat panel: message bubbles (updated in place, keyed by message id) and one input control per open wait.
 *
 * A control's command goes out with `Rpc.request`; an error reply is shown under the control, which stays
 * enabled so the user can try again; an ok reply disables the control until the `waits` trait drops its token.
 */
import { fileToBase64, formatBytes, formatTime, h, renderMarkdown, saveBytes } from "./dom";
import type { ChatMessage, DownloadReply, OpenWait, UploadFile } from "./protocol";
import { type Rpc, errorText } from "./rpc";

interface Bubble {
  el: HTMLElement;
  key: string;
}

interface WaitControl {
  el: HTMLElement;
  error: HTMLElement;
  key: string;
  /** Answered with an ok reply: stays disabled until the token leaves the `waits` trait. */
  answered: boolean;
}

export class ChatPanel {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly waitList: HTMLElement;
  private readonly bubbles = new Map<string, Bubble>();
  private readonly waits = new Map<string, WaitControl>();

  constructor(private readonly rpc: Rpc) {
    this.list = h("div", { class: "aether-messages", role: "log" });
    this.waitList = h("div", { class: "aether-waits" });
    this.el = h("div", { class: "aether-chat" }, this.list, this.waitList);
  }

  updateMessages(messages: ChatMessage[]): void {
    const stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 24;
    const seen = new Set<string>();
    let previous: Element | null = null;
    for (const msg of messages) {
      seen.add(msg.id);
      const key = JSON.stringify(msg);
      let bubble = this.bubbles.get(msg.id);
      if (!bubble) {
        bubble = { el: h("div"), key: "" };
        this.bubbles.set(msg.id, bubble);
      }
      if (bubble.key !== key) {
        bubble.key = key;
        this.fillBubble(bubble.el, msg);
      }
      // Keep DOM order equal to message order without moving bubbles that are already in place.
      const expected: Element | null = previous ? previous.nextElementSibling : this.list.firstElementChild;
      if (expected !== bubble.el) this.list.insertBefore(bubble.el, expected);
      previous = bubble.el;
    }
    for (const [id, bubble] of this.bubbles) {
      if (!seen.has(id)) {
        bubble.el.remove();
        this.bubbles.delete(id);
      }
    }
    this.el.dataset.messageCount = String(messages.length);
    if (stick) this.list.scrollTop = this.list.scrollHeight;
  }

  private fillBubble(el: HTMLElement, msg: ChatMessage): void {
    el.className = `aether-bubble aether-${msg.role === "user" ? "user" : "assistant"} aether-msg-${msg.type}`;
    el.dataset.messageId = msg.id;
    el.dataset.type = msg.type;
    el.dataset.final = String(msg.final);
    if (msg.node_id) el.dataset.nodeId = msg.node_id;
    switch (msg.type) {
      case "markdown":
        renderMarkdown(el, msg.content.text ?? "");
        break;
      case "text":
      case "stream":
        el.textContent = msg.content.text ?? "";
        if (msg.type === "stream" && !msg.final) el.append(h("span", { class: "aether-cursor" }, "▍"));
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
        el.replaceChildren(this.downloadLink(msg.content.artifact_uri, `${msg.content.name} (${formatBytes(msg.content.size)})`));
        break;
      case "progress": {
        const p = msg.content;
        const fraction = p.total ? Math.max(0, Math.min(1, p.current / p.total)) : null;
        const bar = h("div", { class: `aether-progress-bar${fraction === null && !p.done ? " aether-indeterminate" : ""}` });
        bar.style.width = `${((p.done ? 1 : fraction ?? 0.3) * 100).toFixed(1)}%`;
        const label = p.total ? `${p.current} / ${p.total}` : String(p.current);
        el.replaceChildren(
          h("div", { class: "aether-progress-title" }, p.title, h("span", { class: "aether-muted" }, ` ${label}${p.done ? " · done" : ""}`)),
          h("div", { class: "aether-progress", role: "progressbar", "aria-valuenow": String(p.current), "aria-valuemax": String(p.total ?? "") }, bar),
          p.subtitle ? h("div", { class: "aether-muted" }, p.subtitle) : "",
        );
        el.dataset.done = String(p.done);
        break;
      }
      default: {
        const unknown = msg as { type: string; content: unknown };
        el.textContent = `[${unknown.type}] ${JSON.stringify(unknown.content)}`;
      }
    }
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
    return h("span", {}, link, error);
  }

  updateWaits(waits: OpenWait[]): void {
    const seen = new Set<string>();
    for (const wait of waits) {
      seen.add(wait.token);
      const key = JSON.stringify(wait);
      const existing = this.waits.get(wait.token);
      if (existing && existing.key === key) continue;
      const control = this.createWait(wait, key);
      if (existing) existing.el.replaceWith(control.el);
      else this.waitList.append(control.el);
      this.waits.set(wait.token, control);
    }
    for (const [token, control] of this.waits) {
      if (!seen.has(token)) {
        control.el.remove();
        this.waits.delete(token);
      }
    }
    this.el.dataset.waitCount = String(waits.length);
  }

  private createWait(wait: OpenWait, key: string): WaitControl {
    const error = h("div", { class: "aether-control-error", role: "alert" });
    const el = h("div", { class: "aether-wait", "data-wait-token": wait.token, "data-wait-kind": wait.kind });
    const control: WaitControl = { el, error, key, answered: false };
    const prompt = h("div", { class: "aether-wait-prompt" });
    renderMarkdown(prompt, wait.prompt ?? "");
    el.append(prompt);
    if (wait.deadline != null) {
      el.append(h("div", { class: "aether-muted aether-deadline" }, `answer by ${formatTime(wait.deadline)}`));
    }
    const row = h("div", { class: "aether-wait-row" });
    el.append(row, error);
    const inputs: (HTMLInputElement | HTMLButtonElement)[] = [];
    const send = (build: () => Promise<Parameters<Rpc["request"]>[0]>): void => {
      if (control.answered) return;
      error.textContent = "";
      for (const input of inputs) input.disabled = true;
      el.dataset.state = "sending";
      build()
        .then((body) => this.rpc.request(body))
        .then(() => {
          control.answered = true;
          el.dataset.state = "answered";
        })
        .catch((e: unknown) => {
          error.textContent = errorText(e);
          el.dataset.state = "error";
          for (const input of inputs) input.disabled = false;
        });
    };
    const answer = (payload: unknown) => send(async () => ({ type: "answer", token: wait.token, payload }));

    const options = wait.options ?? [];
    if (wait.kind === "choice" || wait.kind === "approval" || (options.length && wait.kind !== "files" && wait.kind !== "text")) {
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
        });
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
          submit();
        }
      });
      button.addEventListener("click", submit);
      inputs.push(input, button);
      row.append(input, button);
    }
    return control;
  }

  dispose(): void {
    this.bubbles.clear();
    this.waits.clear();
  }
}
