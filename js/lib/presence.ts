/**
 * Tells the kernel that a view of a run widget is drawn, and when it no longer is: a second cell points to a run's
 * widget ("↑ run …: see its widget under cell [3]") instead of drawing it again only while a view of it is really
 * drawn on that cell's page (README, "One live widget per run per page"; aether_nb/notebook/page_views.py).
 *
 * The kernel tells pages apart by the client session their messages carry (a reload, a reopened tab and a second
 * tab each connect anew). A view says `view` when it is drawn and again every `REPORT_MS` (one that stops saying
 * it, its page frozen or gone without a word, stops counting), and `unview` when it goes:
 * - disposed (its output cleared or removed);
 * - orphaned: JupyterLab draws an updated output again by emptying the output's node and making a new view,
 *   without removing the view it held, which would report (and redraw on every update) for ever; when the update
 *   comes right after the output was drawn, the view it empties may not have been seen on the page at all. A view
 *   of the model that is off the page when a newer one is placed is orphaned (at once: a cell run right after
 *   must not be pointed at it), and so is a view not placed within `PLACEMENT_FRAMES` frames (frames, not time:
 *   a hidden tab draws none);
 * - its page unloads (`pagehide`, not `beforeunload`: JupyterLab's "unsaved changes" prompt may cancel that one);
 *   a page restored from the back/forward cache says `view` again.
 */
import type { Rpc } from "./rpc";

/** How often a drawn view says so again (`REPORT_S` in aether_nb/notebook/page_views.py). */
export const REPORT_MS = 30_000;
/** Frames within which a view's element is placed on the page (a few, normally) before it counts as orphaned. */
const PLACEMENT_FRAMES = 240;

/** The views of each widget model on this page, in the order they were made. */
const BY_MODEL = new Map<string, Set<Presence>>();

export class Presence {
  private readonly key = Math.random().toString(36).slice(2, 10);
  private drawn = false; // the kernel was last told "view"
  private placed = false; // the element has been seen in the page's tree once
  private unplaced = false; // it was not placed within PLACEMENT_FRAMES
  private ended = false;
  private readonly timer: number;

  /** `onOrphaned`: the view was dropped by the page without being disposed; it should dispose itself. */
  constructor(
    private readonly rpc: Rpc,
    private readonly el: HTMLElement,
    private readonly modelId: string,
    private readonly onOrphaned: () => void,
  ) {
    const views = BY_MODEL.get(modelId) ?? new Set<Presence>();
    BY_MODEL.set(modelId, views.add(this));
    this.say("view");
    this.timer = window.setInterval(this.report, REPORT_MS);
    window.addEventListener("pagehide", this.onPageHide);
    window.addEventListener("pageshow", this.onPageShow);
    document.addEventListener("visibilitychange", this.onVisibility);
    this.watchPlacement(0);
  }

  /** Whether the page dropped this view: its element has no parent, and was placed once or never was in time (a
   * cell scrolled out of a windowed notebook keeps its subtree whole: the element keeps its parent). */
  orphaned(): boolean {
    if (this.el.parentNode) this.placed = true;
    return (this.placed || this.unplaced) && !this.el.parentNode;
  }

  /** The view goes: `tell` the kernel so (not when the kernel is gone: nobody would answer). */
  end(tell: boolean): void {
    if (this.ended) return;
    this.ended = true;
    const views = BY_MODEL.get(this.modelId);
    views?.delete(this);
    if (views?.size === 0) BY_MODEL.delete(this.modelId);
    window.clearInterval(this.timer);
    window.removeEventListener("pagehide", this.onPageHide);
    window.removeEventListener("pageshow", this.onPageShow);
    document.removeEventListener("visibilitychange", this.onVisibility);
    if (tell && this.drawn) this.say("unview");
  }

  private say(type: "view" | "unview"): void {
    this.drawn = type === "view";
    this.rpc.request({ type, key: this.key }).catch(() => undefined);
  }

  /** An output is placed after its view rendered: learn that it was, so that its orphaning is told from it. */
  private watchPlacement(frames: number): void {
    if (this.ended || this.placed) return;
    this.unplaced = frames >= PLACEMENT_FRAMES;
    if (this.orphaned()) this.onOrphaned();
    else if (this.placed) this.dropOlder();
    else requestAnimationFrame(() => this.watchPlacement(frames + 1));
  }

  /** This view is placed: the older views of its model that are off the page were dropped by it (see above). */
  private dropOlder(): void {
    for (const other of [...(BY_MODEL.get(this.modelId) ?? [])]) {
      if (other === this) break; // (the newer ones come after it)
      if (!other.el.parentNode) other.onOrphaned();
    }
  }

  private readonly report = (): void => {
    if (this.ended) return;
    if (this.orphaned()) this.onOrphaned();
    else if (this.drawn) this.say("view");
  };

  private readonly onPageHide = (): void => {
    if (this.drawn) this.say("unview");
  };

  private readonly onPageShow = (event: PageTransitionEvent): void => {
    if (event.persisted && !this.drawn && !this.ended) this.say("view");
  };

  /** A tab shown again reports at once: its timers may have been held back (or frozen) while it was hidden. */
  private readonly onVisibility = (): void => {
    if (document.visibilityState === "visible") this.report();
  };
}
