/**
 * RunWidget front end: header (status, elapsed, counts, Stop), notice, live DAG with an inspector, and a chat
 * panel with one control per open wait.
 *
 * Traits carry state kernel -> browser; commands go back as custom messages through `Rpc` (FACTS.md). Trait
 * changes only mark parts dirty; one `requestAnimationFrame` flush redraws them, so ten `graph` updates a second
 * of a 1,000-node run cost at most one layout per frame, and none when only statuses changed (see layout.ts).
 * The DAG's DOM changes are applied in time slices of ~12 ms per frame (dag_view.ts), the newest graph winning,
 * into horizontal bands that Chromium skips (layout and paint) while they are scrolled out of view.
 * Anything that throws while drawing is shown inside the widget, never swallowed.
 *
 * The widget never contradicts the run: statuses are shown in words from one vocabulary (status.ts), a failed
 * run says why right under the header and selects the node that failed, a finished run offers no control, and
 * a widget whose kernel went away (restart, shutdown) turns inert, says so and shows how to re-attach. Big
 * runs group sibling calls ("step ×20", groups.ts) and the DAG follows the running frontier.
 *
 * The DOM carries data attributes for tests: `data-run-status` and `data-inert` on the root,
 * `data-node-id`/`data-status`/`data-shown` on nodes, `data-wait-token`/`data-wait-kind` on wait controls,
 * `data-action` on buttons.
 */
import type { RenderProps } from "@anywidget/types";
import { ChatPanel } from "./lib/chat";
import { DagView, FRAME_BUDGET_MS } from "./lib/dag_view";
import { formatSeconds, h, whenConnected } from "./lib/dom";
import { Inspector, serviceCalls } from "./lib/inspector";
import { groupGraph } from "./lib/groups";
import { indexGraph } from "./lib/layout";
import type { GraphNode, RunGraph, RunWidgetModel } from "./lib/protocol";
import { Rpc, errorText } from "./lib/rpc";
import { type SavedViewModel, renderSavedView } from "./lib/saved_view";
import { Presence } from "./lib/presence";
import { type PromotedSourceModel, renderPromoted } from "./lib/promoted";
import { notebookContext, saveWith, snapshotHtml, writeSnapshot } from "./lib/snapshot";
import { CUT_OFF, TONES, isActiveRun, statusTone, statusWords } from "./lib/status";
import { CSS } from "./lib/styles";
import { type Drafts, VIEW_STATES } from "./lib/view_state";

/** How long the kernel has to answer a ping before the widget calls itself inert. */
const PING_TIMEOUT_MS = 5_000;
const PING_INTERVAL_MS = 30_000;
/** A DOM event on `document` by which live run widgets tell inert widgets of the same run what became of it. */
const PEER_EVENT = "aether-run-status";

function isRunGraph(value: unknown): value is RunGraph {
  return typeof value === "object" && value !== null && Array.isArray((value as RunGraph).nodes);
}

function render({ model, el }: RenderProps<RunWidgetModel>): () => void {
  const rpc = new Rpc(model);
  const root = h("div", { class: "aether-run", "data-run-status": "", "data-lm-suppress-shortcuts": "true" });
  const title = h("span", { class: "aether-title" }, "no run yet");
  const badge = h("span", { class: "aether-badge" });
  const elapsed = h("span", { class: "aether-muted aether-elapsed" });
  const counts = h("span", { class: "aether-muted aether-counts" });
  const stop = h("button", { class: "aether-button aether-danger", "data-action": "stop", hidden: "" }, "■ Stop");
  const follow = h("button", { class: "aether-button", "data-action": "follow", hidden: "", title: "Scroll the DAG to the running steps again" }, "⤓ Follow the run");
  const stopError = h("div", { class: "aether-control-error", role: "alert" });
  const header = h("div", { class: "aether-header" }, title, badge, elapsed, counts, h("span", { class: "aether-spacer" }), follow, stop);
  const reason = h("div", { class: "aether-reason", role: "status", hidden: "" });
  const notice = h("div", { class: "aether-notice", hidden: "" });
  const inertNotice = h("div", { class: "aether-notice aether-inert-notice", hidden: "" });
  const renderError = h("div", { class: "aether-render-error", role: "alert", hidden: "" });

  const dirty = { graph: true, messages: true, waits: true, notice: true };
  let frame = 0;
  const schedule = (): void => {
    if (!frame) frame = requestAnimationFrame(flush);
  };
  const inspector = new Inspector(rpc, () => {
    dag.selected = null;
    dirty.graph = true;
    schedule();
  });
  const dag = new DagView(
    () => {
      dirty.graph = true;
      schedule();
    },
    () => {
      dirty.graph = true;
      schedule();
    },
  );
  const chat = new ChatPanel(rpc);
  const main = h("div", { class: "aether-main" }, dag.el, inspector.el);
  // service calls of the agent's own body (memory, KV, artifacts...): journaled steps, not DAG nodes
  const bodyCalls = h("details", { class: "aether-body-calls", "data-section": "body-calls", hidden: "" });
  let bodyCallsShown = -1;
  root.append(h("style", {}, CSS), header, reason, stopError, inertNotice, notice, renderError, main, bodyCalls, chat.el);
  el.append(root);
  dag.follower.onChange = (on) => {
    follow.hidden = on || !activeNow();
  };
  const onFollowClick = (): void => dag.follower.resume();
  follow.addEventListener("click", onFollowClick);
  let disposed = false;
  let scrollPending: [number, number] | null = null; // where scrollBack will scroll, once this view is laid out
  let scrollSeen: [number, number] | null = null; // the scroll last read while on the page
  /** Where the person left the DAG scrolled (null: following the run). A view no longer on the page (JupyterLab
   * drew the output again) reads 0 for its scroll: it keeps what it last read. */
  const scrolled = (): [number, number] | null => {
    if (dag.follower.follow) return null;
    if (scrollPending) return scrollPending;
    if (root.isConnected) scrollSeen = [dag.el.scrollTop, dag.el.scrollLeft];
    return scrollSeen;
  };
  // (after the follower's own listener: it has decided whether this scroll was the person's)
  const onDagScroll = (): void => {
    const mine = currentGraph ? VIEW_STATES.get(currentGraph.run_id) : undefined;
    if (mine && mine.root === root) mine.scroll = scrolled();
  };
  dag.el.addEventListener("scroll", onDagScroll, { passive: true });
  /** Scroll the DAG where the former view was, once this view is on the page and laid out (JupyterLab attaches a
   * re-rendered output after its first draw); given up after ~2 s of frames (a view never shown). */
  const scrollBack = (to: [number, number], tries: number): void => {
    scrollPending = null;
    if (disposed || dag.follower.follow) return; // (the person asked to follow the run meanwhile)
    if (!root.isConnected || dag.el.clientHeight === 0) {
      if (tries < 120) {
        scrollPending = to;
        requestAnimationFrame(() => scrollBack(to, tries + 1));
      }
      return;
    }
    dag.el.scrollTo({ top: to[0], left: to[1] });
    scrollSeen = [dag.el.scrollTop, dag.el.scrollLeft];
  };

  // -- kernel gone: inert -----------------------------------------------------------------------------------------
  let inert = false;
  let lastActiveAt = 0; // when this widget last drew its run active (seconds), for the clock once inert
  let currentGraph: RunGraph | null = null;
  // A run cut off by a dead kernel says "running" in the store, but nothing executes it: not active here.
  const activeNow = (): boolean => !inert && currentGraph !== null && isActiveRun(currentGraph.status) && !currentGraph.cut_off;
  /** The run's status in words, as `%aether runs` says it. */
  const runWords = (g: RunGraph): string => (g.cut_off ? CUT_OFF : statusWords(g.status));
  const disconnected = (): boolean => el.classList.contains("jupyter-widgets-disconnected") || el.closest(".jupyter-widgets-disconnected") !== null;
  // The run went on in a newer widget on this page (a re-attach after a restart): its status there, else "".
  let movedOn = "";
  const movedOnText = (status: string): string =>
    `This widget's kernel has stopped; the run went on in a newer widget of this notebook and is ${statusWords(status)} there. ` +
    "What this one shows is the run as it was when its kernel stopped.";
  // Live widgets announce their run's status on the page; an inert widget of the same run listens (see setInert).
  // Another view of this same widget model (JupyterLab may draw an output twice, or keep a detached copy) is not
  // "a newer widget": it stops with the same kernel. Only another model of the run, shown on the page, counts.
  const ownModel = (): string => String(model.get("view_id") ?? "");
  const isNewerPeer = (other: HTMLElement): boolean =>
    other !== root && other.isConnected && (other.dataset.viewId ?? "") !== ownModel();
  // The status a newer live widget of this run shows on the page now ("" when there is none).
  const peerStatus = (): string => {
    const runId = currentGraph?.run_id ?? "";
    let found = "";
    for (const other of document.querySelectorAll<HTMLElement>(".aether-run[data-run-id]")) {
      if (isNewerPeer(other) && other.dataset.runId === runId && other.dataset.inert !== "true" && other.dataset.runStatus) {
        found = other.dataset.runStatus;
      }
    }
    return found;
  };
  const onPeerStatus = (event: Event): void => {
    const detail = (event as CustomEvent<{ runId: string; status: string; source: HTMLElement }>).detail;
    if (!detail || detail.runId !== currentGraph?.run_id) return;
    if (!isNewerPeer(detail.source)) {
      // A view JupyterLab draws again (a display updated when the run ended) announces before it is attached:
      // read the page again once it is, or this widget (and its saved view) kept the status before ("waiting").
      if (detail.source !== root && !detail.source.isConnected) {
        window.setTimeout(() => {
          const status = peerStatus();
          if (status && status !== movedOn) {
            movedOn = status;
            if (inert) inertNotice.replaceChildren(movedOnText(movedOn));
          }
        }, 500);
      }
      return;
    }
    movedOn = detail.status;
    if (inert) inertNotice.replaceChildren(movedOnText(movedOn));
  };
  document.addEventListener(PEER_EVENT, onPeerStatus);
  let announced = "";
  const setInert = (value: boolean): void => {
    if (value === inert) return;
    inert = value;
    root.dataset.inert = String(value);
    chat.setInert(value);
    const runId = currentGraph?.run_id ?? "";
    if (value) {
      // A newer widget of this run may already be on the page (reopened, or re-attached before this one noticed).
      movedOn = peerStatus() || movedOn;
    }
    if (value && !movedOn) {
      // the cells' one-line pointers to this widget: say the kernel stopped
      for (const pointer of document.querySelectorAll<HTMLElement>(".aether-run-pointer[data-run-id]")) {
        if (pointer.dataset.runId === runId) {
          pointer.textContent = `↑ run ${runId}: its widget shows the last state it knew; the kernel has stopped`;
          pointer.dataset.inert = "true";
        }
      }
    }
    if (value && movedOn) {
      inertNotice.replaceChildren(movedOnText(movedOn));
    } else if (value) {
      const code = `%aether resume ${runId}`;
      const copy = h("button", { class: "aether-button", "data-action": "copy-resume", title: "Copy the line that re-attaches this run" }, "Copy");
      copy.addEventListener("click", () => {
        void navigator.clipboard?.writeText(code).then(
          () => (copy.textContent = "Copied"),
          () => (copy.textContent = "Select and copy the line"),
        );
      });
      // A run that had ended has nothing to pick up: the line says how to see it live, not how to resume it.
      const ended = currentGraph !== null && !isActiveRun(currentGraph.status);
      const stuck = model.get("not_resumable") ?? "";
      if (stuck && !ended) {
        // (a secret among its inputs: `%aether resume` would refuse it)
        inertNotice.replaceChildren(`This widget's kernel has stopped (restarted, shut down or died): this is the run's last known state. ${stuck}`);
        inertNotice.hidden = false;
        dirty.graph = true;
        schedule();
        return;
      }
      inertNotice.replaceChildren(
        ended
          ? `This widget's kernel has stopped (restarted, shut down or died); the run had ended ` +
              `(${statusWords(currentGraph?.status ?? "")}) and this is how it ended. To see it live again: `
          : `This widget's kernel has stopped (restarted, shut down or died): this is the run's last known state, and its controls are off. ` +
              "To pick the run up again, run the cells that define its agent and tools, then: ",
        h("code", {}, code),
        " ",
        copy,
      );
    }
    inertNotice.hidden = !value;
    dirty.graph = true;
    schedule();
  };
  // ipywidgets says "the connection changed" (a kernel restart) without saying which way, and anywidget's model
  // does not expose `comm_live`: ask the kernel. No reply within PING_TIMEOUT_MS means nobody is there.
  let probing = false;
  const probe = (): void => {
    if (probing) return;
    probing = true;
    rpc
      .request({ type: "ping" }, PING_TIMEOUT_MS)
      .then(() => setInert(false))
      .catch(() => setInert(true))
      .finally(() => {
        probing = false;
      });
  };
  const onCommLive = (): void => {
    if (disconnected()) setInert(true);
    else probe();
  };
  // While a run is active, a kernel that died without a restart (shut down, killed) is found within a minute.
  const heartbeat = window.setInterval(() => {
    if (activeNow()) probe();
  }, PING_INTERVAL_MS);
  model.on("comm_live_update", onCommLive);
  model.on("comm:close", onCommLive);

  // -- saved notebooks: a static entry under this model id (snapshot.ts) --------------------------------------------
  const context = notebookContext(model.widget_manager);
  const onSave = (state: string): void => {
    if (state !== "started" || !context?.model) return;
    const viewId = model.get("view_id");
    if (!viewId) return;
    try {
      const g = currentGraph;
      if (inert) movedOn = peerStatus() || movedOn; // (what the page shows now: an announcement may have been missed)
      const words = g ? runWords(g) : "unknown";
      const when = new Date().toLocaleString();
      // A finished run has nothing to pick up: the line says how to see it live, not how to resume it.
      const stuck = model.get("not_resumable") ?? "";
      const next = g && isActiveRun(g.status)
        ? stuck || `To pick it up again, run the cells that define its agent, then: %aether resume ${g.run_id}`
        : `%aether resume ${g?.run_id} shows it live again.`;
      const note = !g
        ? `Saved view (${when}); no kernel is attached to it.`
        : inert && movedOn
          ? `Saved view of run ${g.run_id} (${g.name}) as it was when this widget's kernel stopped (${words}); the run ` +
            `went on in a newer widget of this notebook and is ${statusWords(movedOn)} there.`
          : `Saved view of run ${g.run_id} (${g.name}, ${words}) at ${when}; no kernel is attached to it. ${next}`;
      const get = (key: string): string => String((model.get as (k: string) => unknown)(key) ?? "");
      const live = { modelName: get("_model_name"), viewName: get("_view_name"), module: get("_model_module"), version: get("_model_module_version") };
      writeSnapshot(context.model, viewId, snapshotHtml(root, model.get("static_html") ?? "", note), live);
    } catch (error) {
      console.error("aether_nb widget: could not save its static view into the notebook", error);
    }
  };
  const releaseSave = context ? saveWith(model, context, onSave) : () => undefined; // (see saveWith)
  // The kernel counts the views drawn on each page (one live widget per run per page); a view the page dropped
  // without disposing it (JupyterLab drew the output again) ends itself.
  const presence = new Presence(rpc, el, String(model.get("view_id") ?? ""), () => dispose());

  const showError = (where: string, error: unknown): void => {
    const stack = error instanceof Error && error.stack ? `\n${error.stack}` : "";
    renderError.textContent = `aether_nb widget: ${where} failed: ${errorText(error)}${stack}`;
    renderError.hidden = false;
    console.error(`aether_nb widget: ${where} failed`, error);
  };

  let frameStart = 0;
  let autoSelected = ""; // the failed node the widget selected by itself (once per failure)
  let restored = false; // the state a former view of this run left (VIEW_STATES), taken once
  let takenDrafts: Drafts | null = null; // what the former view's boxes held, put back once the waits are drawn
  let focusedBox: string | null = null; // the chat box with the focus (a box removed with its view keeps it)
  const drafts = (): Drafts => ({ texts: chat.drafts().texts, focused: focusedBox });
  const onFocusChange = (event: FocusEvent): void => {
    if (event.type === "focusin") focusedBox = chat.drafts().focused;
    // (Chrome says focusout before it takes a focused box off the page: look once the page has changed.)
    else
      queueMicrotask(() => {
        if (root.isConnected && !root.contains(document.activeElement)) focusedBox = null;
      });
  };
  root.addEventListener("focusin", onFocusChange);
  root.addEventListener("focusout", onFocusChange);
  const drawGraph = (): void => {
    const graph = model.get("graph");
    if (!isRunGraph(graph)) {
      root.dataset.runStatus = "";
      title.textContent = "no run yet";
      main.hidden = true;
      stop.hidden = true;
      reason.hidden = true;
      return;
    }
    currentGraph = graph;
    let scrollTo: [number, number] | null = null;
    if (!restored) {
      restored = true;
      const left = VIEW_STATES.get(graph.run_id);
      if (left && left.root !== root && !left.root.isConnected) {
        dag.selected = left.selected;
        for (const id of left.expanded) dag.expanded.add(id);
        autoSelected = left.autoSelected;
        scrollTo = left.scroll;
        if (scrollTo) dag.follower.stop(); // (before the update: following would scroll elsewhere)
        takenDrafts = left.drafts();
      }
    }
    if (!inert && disconnected()) setInert(true);
    main.hidden = false;
    const now = Date.now() / 1000;
    const active = activeNow();
    root.dataset.runStatus = graph.status;
    root.dataset.runId = graph.run_id;
    root.dataset.viewId = ownModel();
    if (!inert && announced !== `${graph.run_id}|${graph.status}`) {
      announced = `${graph.run_id}|${graph.status}`;
      document.dispatchEvent(new CustomEvent(PEER_EVENT, { detail: { runId: graph.run_id, status: graph.status, source: root } }));
    }
    title.textContent = graph.name;
    badge.textContent = runWords(graph) + (inert && isActiveRun(graph.status) && !graph.cut_off ? " (when the kernel stopped)" : "");
    badge.dataset.status = graph.status;
    badge.className = `aether-badge aether-tone-${graph.cut_off ? "stopped" : statusTone(graph.status)}`;
    root.dataset.cutOff = String(Boolean(graph.cut_off));
    stop.hidden = !active;
    follow.hidden = !active || dag.follower.follow;
    chat.setActive(active);
    let start = Infinity;
    let end = 0;
    const parents = new Set<string>();
    for (const node of graph.nodes) if (node.parent != null) parents.add(node.parent);
    const tally = new Map<string, number>();
    let steps = 0;
    for (const node of graph.nodes) {
      if (node.started_at != null) start = Math.min(start, node.started_at);
      if (node.ended_at != null) end = Math.max(end, node.ended_at);
      if (parents.has(node.id)) continue; // a container is counted through what it contains
      steps++;
      const tone = statusTone(node.shown ?? node.status);
      tally.set(tone, (tally.get(tone) ?? 0) + 1);
    }
    // A finished run stops the clock at its last node's end; an active one whose kernel stopped, where this widget
    // last saw it active (not at its last node's end: a run waiting for minutes read "2 ms" once inert).
    if (active) {
      end = now;
      lastActiveAt = now;
    } else if (inert && lastActiveAt > 0 && isActiveRun(graph.status)) {
      end = Math.max(end, lastActiveAt);
    }
    elapsed.textContent = Number.isFinite(start) && end >= start ? formatSeconds(end - start) : "";
    const calls = graph.calls ?? [];
    // Say what the run did: its steps (the DAG) and its body's service calls (the list below); never "0 steps" for
    // a run that only used memory, KV or artifacts, and nothing at all for a run that has done nothing yet.
    const parts = steps > 0 ? [`${steps} step${steps === 1 ? "" : "s"}`] : [];
    for (const tone of [...TONES].reverse()) {
      const n = tally.get(tone);
      if (n) parts.push(`${n} ${tone}`);
    }
    if (calls.length > 0) parts.push(`${calls.length} service call${calls.length === 1 ? "" : "s"}`);
    counts.textContent = parts.join(" · ");
    counts.dataset.total = String(graph.nodes.length);
    // a finished agent that only used services (memory, KV, artifacts) has no DAG: no empty frame for one
    main.hidden = graph.nodes.length === 0 && !active;
    bodyCalls.hidden = calls.length === 0;
    if (calls.length !== bodyCallsShown) {
      bodyCallsShown = calls.length;
      const what = `${calls.length} service call${calls.length === 1 ? "" : "s"} of the agent itself`;
      bodyCalls.replaceChildren(h("summary", { class: "aether-muted" }, `${what} (memory, KV, artifacts…)`), serviceCalls(calls));
    }
    const shown = groupGraph(graph);
    const index = indexGraph(shown);
    drawReason(graph, index);
    dag.update(shown, index, now, frameStart + FRAME_BUDGET_MS); // the DOM work continues in later frames
    if (scrollTo) scrollBack(scrollTo, 0);
    inspector.show(dag.selected !== null ? (index.byId.get(dag.selected) ?? null) : null);
    VIEW_STATES.set(graph.run_id, { root, selected: dag.selected, expanded: [...dag.expanded], autoSelected, scroll: scrolled(), drafts });
  };

  /** A failed run says why under the header, and selects (and reveals) the node its error was raised at, once;
   * one whose body raised says so (never a step whose failure the body or a loop handled). A run cut off by a
   * dead kernel says that nothing executes it, and how to resume it. */
  const drawReason = (graph: RunGraph, index: ReturnType<typeof indexGraph>): void => {
    if (graph.cut_off && !inert) {
      reason.hidden = false;
      reason.dataset.nodeId = "";
      reason.dataset.cutOff = "true";
      reason.replaceChildren(h("strong", {}, "Cut off: "), graph.cut_off);
      return;
    }
    delete reason.dataset.cutOff;
    if (statusTone(graph.status) !== "failed") {
      reason.hidden = true;
      reason.replaceChildren();
      return;
    }
    const cause: GraphNode | undefined = graph.failed_node ? index.byId.get(graph.failed_node) : undefined;
    const why = cause?.error_message || graph.error || "the agent raised an error";
    const verb = cause && cause.status === "FAILED_TIMEOUT" ? "Timed out" : "Failed";
    reason.hidden = false;
    reason.dataset.nodeId = cause?.id ?? "";
    const where = cause
      ? h("a", { href: "#", class: "aether-reason-node", "data-action": "select-failed" }, `${cause.name}${cause.label ? `(${cause.label})` : ""}`)
      : "";
    // failed_node null (not absent): the run's own code raised, between or after its steps
    const inBody = graph.failed_node === null ? ` in the body of ${graph.name} (not in a step)` : "";
    reason.replaceChildren(h("strong", {}, `${verb}${cause ? " at " : inBody}`), where, `: ${why}`);
    if (cause && autoSelected !== cause.id && dag.selected === null) {
      autoSelected = cause.id;
      reveal(cause, index);
      dag.selected = cause.id;
    }
  };
  const reveal = (node: GraphNode, index: ReturnType<typeof indexGraph>): void => {
    for (let p = node.parent; p != null; p = index.byId.get(p)?.parent ?? null) dag.expanded.add(p);
  };
  const onReasonClick = (event: MouseEvent): void => {
    if (!(event.target as Element).closest("[data-action='select-failed']")) return;
    event.preventDefault();
    const id = reason.dataset.nodeId;
    const graph = model.get("graph");
    if (!id || !isRunGraph(graph)) return;
    const index = indexGraph(groupGraph(graph));
    const node = index.byId.get(id);
    if (node) reveal(node, index);
    dag.selected = id;
    dirty.graph = true;
    schedule();
  };
  reason.addEventListener("click", onReasonClick);

  function flush(): void {
    frame = 0;
    if (presence.orphaned()) {
      dispose(); // (JupyterLab drew the output again in a new view: this one is off the page for good)
      return;
    }
    const t0 = performance.now();
    frameStart = t0;
    const parts: [keyof typeof dirty, () => void][] = [
      ["graph", drawGraph],
      ["messages", () => chat.updateMessages(model.get("messages") ?? [])],
      ["waits", () => chat.updateWaits(model.get("waits") ?? [])],
      [
        "notice",
        () => {
          const text = model.get("notice") ?? "";
          notice.textContent = text;
          notice.hidden = !text;
        },
      ],
    ];
    for (const [name, draw] of parts) {
      if (!dirty[name]) continue;
      dirty[name] = false;
      try {
        draw();
      } catch (error) {
        showError(`drawing ${name}`, error);
      }
    }
    if (takenDrafts && !dirty.waits) {
      const taken = takenDrafts;
      takenDrafts = null;
      chat.restoreDrafts(taken);
      if (taken.focused !== null) whenConnected(root, () => chat.refocus(taken.focused ?? ""));
    }
    root.dataset.flushMs = (performance.now() - t0).toFixed(1); // read by bench/widget_bench.py
  }

  const onGraph = (): void => {
    dirty.graph = true;
    schedule();
  };
  const onMessages = (): void => {
    dirty.messages = true;
    schedule();
  };
  const onWaits = (): void => {
    dirty.waits = true;
    schedule();
  };
  const onNotice = (): void => {
    dirty.notice = true;
    schedule();
  };
  let graphUpdates = 0;
  const onGraphChange = (): void => {
    if (inert) probe(); // a kernel that sends state is there after all
    root.dataset.graphUpdates = String(++graphUpdates); // graph messages received, counted by bench/widget_bench.py
    onGraph();
  };
  model.on("change:graph", onGraphChange);
  model.on("change:messages", onMessages);
  model.on("change:waits", onWaits);
  model.on("change:notice", onNotice);

  const onStop = (): void => {
    if (inert) return;
    stopError.textContent = "";
    stop.disabled = true;
    rpc
      .request({ type: "stop" })
      .then(() => {
        stop.dataset.state = "sent"; // stays disabled: the run's status turns cancelled
      })
      .catch((error: unknown) => {
        stopError.textContent = `Stop failed: ${errorText(error)}`;
        stop.disabled = false;
      });
  };
  stop.addEventListener("click", onStop);
  // Keys typed into the widget's inputs must not reach JupyterLab's notebook shortcuts.
  const onKeydown = (event: KeyboardEvent): void => {
    if ((event.target as Element).closest("input, textarea")) event.stopPropagation();
  };
  root.addEventListener("keydown", onKeydown);

  // Elapsed time and running nodes' durations tick once a second while the run is active (not once inert).
  const ticker = window.setInterval(() => {
    if (activeNow()) onGraph();
  }, 1000);

  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    if (frame) cancelAnimationFrame(frame);
    window.clearInterval(ticker);
    window.clearInterval(heartbeat);
    document.removeEventListener(PEER_EVENT, onPeerStatus);
    model.off("change:graph", onGraphChange);
    model.off("change:messages", onMessages);
    model.off("change:waits", onWaits);
    model.off("change:notice", onNotice);
    model.off("comm_live_update", onCommLive);
    model.off("comm:close", onCommLive);
    releaseSave();
    presence.end(!inert);
    root.removeEventListener("focusin", onFocusChange);
    root.removeEventListener("focusout", onFocusChange);
    follow.removeEventListener("click", onFollowClick);
    dag.el.removeEventListener("scroll", onDagScroll);
    reason.removeEventListener("click", onReasonClick);
    stop.removeEventListener("click", onStop);
    root.removeEventListener("keydown", onKeydown);
    rpc.dispose();
    dag.dispose();
    inspector.dispose();
    chat.dispose();
    root.remove();
  };
  // First draw synchronously, so the widget shows its state as soon as it is attached.
  flush();
  return dispose;
}

/** One bundle, three widgets: a SavedView (saved_view.ts) has a `saves_view_of` trait, a PromotedSource
 * (promoted.ts) a `promoted_source` trait, a RunWidget neither. */
function renderAny(props: RenderProps<RunWidgetModel>): () => void {
  const traits = props.model.get as (key: string) => unknown;
  if (typeof traits("saves_view_of") === "string") return renderSavedView(props as unknown as RenderProps<SavedViewModel>);
  if (typeof traits("promoted_source") === "string") return renderPromoted(props as unknown as RenderProps<PromotedSourceModel>);
  return render(props);
}

export default { render: renderAny };
