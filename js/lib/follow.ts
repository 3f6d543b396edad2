/**
 * The DAG follows the running frontier: after each update the newest running or waiting box is scrolled into view
 * (if it is not already), until the user scrolls the DAG themselves (wheel, scrollbar, keys). `resume()` turns
 * following back on ("Follow the run" in the header) and jumps there at once.
 */
import type { Box } from "./layout";

/** Canvas margin of the drawing (dag_view.ts): boxes are drawn this far from the scroll area's corner. */
const MARGIN = 8;
/** How much of a box must be in view horizontally for the frontier to count as visible. */
const NODE_VISIBLE = 120;

export class Follower {
  follow = true;
  /** Reports each change of `follow` (the header shows the button while it is off). */
  onChange: (follow: boolean) => void = () => {};
  private target: Box | null = null;
  /** Where this follower's last scroll put the DAG, until its scroll event comes. A flag ("a scroll of mine is
   * coming") was not enough: a browser sends one scroll event per frame, so a person's scroll in the same frame as
   * the follower's (a busy page) was taken for the follower's and lost (following went on, the place forgotten). */
  private expected: [number, number] | null = null;

  constructor(private readonly el: HTMLElement) {
    el.addEventListener("wheel", this.onUserScroll, { passive: true });
    el.addEventListener("scroll", this.onScroll, { passive: true });
  }

  private readonly onUserScroll = (): void => {
    if (!this.follow) return;
    this.follow = false;
    this.onChange(false);
  };

  /** A scroll the follower did not make itself (scrollbar drag, keys) stops following too. */
  private readonly onScroll = (): void => {
    const mine = this.expected;
    this.expected = null;
    if (mine && Math.abs(this.el.scrollTop - mine[0]) < 1 && Math.abs(this.el.scrollLeft - mine[1]) < 1) return;
    this.onUserScroll();
  };

  /** The frontier after an update (null: nothing runs or waits); scrolls to it while following. */
  update(target: Box | null): void {
    this.target = target;
    if (this.follow) this.scroll();
  }

  /** Stop following, as a person's scroll does (a new view of the run where the person had scrolled). */
  stop(): void {
    this.onUserScroll();
  }

  resume(): void {
    this.follow = true;
    this.onChange(true);
    this.scroll();
  }

  private scroll(): void {
    const box = this.target;
    if (!box) return;
    const el = this.el;
    const top = box.y + MARGIN;
    const left = box.x + MARGIN;
    const inView =
      top >= el.scrollTop &&
      top + Math.min(box.h, 60) <= el.scrollTop + el.clientHeight &&
      left >= el.scrollLeft &&
      left + NODE_VISIBLE <= el.scrollLeft + el.clientWidth;
    if (inView) return;
    const y = Math.max(0, top - el.clientHeight / 3);
    const x = Math.max(0, left - el.clientWidth / 3);
    if (Math.abs(el.scrollTop - y) < 1 && Math.abs(el.scrollLeft - x) < 1) return;
    el.scrollTo({ top: y, left: x });
    this.expected = [el.scrollTop, el.scrollLeft]; // (where it landed: the browser clamps to the scroll range)
  }

  dispose(): void {
    this.el.removeEventListener("wheel", this.onUserScroll);
    this.el.removeEventListener("scroll", this.onScroll);
  }
}
