/**
 * The second line of a DAG box: the argument preview (or question, or model), then the duration.
 *
 * A longer preview is cut with "…" so the duration stays visible and nothing runs past the box's edge (the full
 * text is in the tooltip and the inspector). The cut is made by estimated width, not by a count of characters:
 * 27 characters fit in lower case but not as "Charge 250 EUR fo… · 211 ms" (capitals and digits are wider), which
 * ran past the box. Measuring the rendered text instead would force a layout per box (a 5,000-node run redraws
 * many boxes a frame).
 */
const META_WIDTH = 150; // px of 11px text between the box's left padding and its right edge (box 168 px)

/** Rough advance widths of an 11px sans-serif (DejaVu Sans, JupyterLab's usual fallback), rounded up. */
function charWidth(c: string): number {
  if (c === " " || c === "·" || "il.,:;'|!ijtfr()[]".includes(c)) return 3.6;
  if (c === "…") return 11;
  if ("mwMW@%".includes(c)) return 10;
  if (c >= "A" && c <= "Z") return 7.8;
  if (c >= "0" && c <= "9") return 7.1;
  if (c >= "a" && c <= "z") return 6.4;
  return c.charCodeAt(0) > 0x2e80 ? 11 : 7; // wide scripts (CJK) take a full em
}

/** The estimated width of ``text`` in px. */
export function textWidth(text: string): number {
  let w = 0;
  for (const c of text) w += charWidth(c);
  return w;
}

/** ``label · duration``, the label shortened so the whole line fits the box. */
export function metaLine(label: string, duration: string): string {
  const tail = duration ? ` · ${duration}` : "";
  if (textWidth(label + tail) <= META_WIDTH) return label + tail;
  const room = META_WIDTH - textWidth(tail) - charWidth("…");
  let cut = "";
  let used = 0;
  for (const c of label) {
    const w = charWidth(c);
    if (used + w > room) break;
    cut += c;
    used += w;
  }
  return `${(cut.trimEnd() || [...label][0] || "")}…${tail}`;
}
