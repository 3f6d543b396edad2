/**
 * The second line of a DAG box: the argument preview (or question, or model), then the duration.
 *
 * In 11px text a box holds ~27 characters; a longer preview is cut with "…" so the duration stays visible and
 * nothing runs past the box's edge (the full text is in the tooltip and the inspector).
 */
const META_CHARS = 27;

/** ``label · duration``, the label shortened so the whole line fits the box. */
export function metaLine(label: string, duration: string): string {
  const tail = duration ? ` · ${duration}` : "";
  const room = META_CHARS - tail.length;
  const shown = label.length > room ? `${label.slice(0, Math.max(room - 1, 1)).trimEnd()}…` : label;
  return shown + tail;
}
