/**
 * What a view of a run leaves for the next view of the same run: JupyterLab renders an output again when the kernel
 * updates its display (a run's display is updated each time the run comes to rest — waiting at its questions, ended
 * — so that the notebook saves its static view as it is), and a person reading a node's inspector at that moment
 * must not see it close, nor expanded groups collapse, nor the DAG they scrolled jump back to its top (the new view
 * draws the whole DAG again: a second, for thousands of nodes), nor lose what they were typing (an answer to a
 * question, a message to the agent) or the focus of the box they typed it in. Only a view that left the page hands
 * its state on (an inert widget of the run, still shown, keeps its own).
 */

/** Text typed and not sent yet, by box: a wait's token, or "" for the message box. */
export interface Drafts {
  texts: Record<string, string>;
  /** The box that has the focus, by the same key (null: none of the view's boxes). */
  focused: string | null;
}

export interface ViewState {
  root: HTMLElement;
  selected: string | null;
  expanded: string[];
  autoSelected: string;
  /** Where the person scrolled the DAG (top, left); null while it followed the run. */
  scroll: [number, number] | null;
  /** What the view's boxes hold, read when the next view takes over (a view left behind keeps its boxes). */
  drafts: () => Drafts;
}

/** The state each run's latest view left, by run id. */
export const VIEW_STATES = new Map<string, ViewState>();
