/** Styles of the run widget, scoped under `.aether-run`, on JupyterLab's CSS variables (dark themes work).
 *
 * Tinted backgrounds are translucent colours, never `--jp-*-color3`: those stay light in JupyterLab Dark, where the
 * text on them is light too (a user's bubble and every notice were unreadable there). */
export const CSS = `
.aether-run { font-family: var(--jp-ui-font-family, sans-serif); font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #222); border: 1px solid var(--jp-border-color2, #ddd); border-radius: 6px;
  background: var(--jp-layout-color1, #fff); padding: 8px; display: flex; flex-direction: column; gap: 8px; }
.aether-run .aether-header { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.aether-run .aether-title { font-weight: 600; font-size: var(--jp-ui-font-size2, 14px); }
.aether-run .aether-muted { color: var(--jp-ui-font-color2, #666); }
.aether-run .aether-badge { border-radius: 10px; padding: 1px 8px; font-size: 11px; font-weight: 600; color: #fff; background: #757575; }
.aether-run [data-section="calls"] { margin: 2px 0; padding-left: 18px; font-size: 12px; }
.aether-run .aether-call-failed code { color: var(--jp-error-color1, #c62828); }
.aether-run .aether-body-calls { margin: 4px 0; font-size: 12px; }
.aether-run .aether-chip { border: 1px solid var(--jp-border-color2, #ccc); border-radius: 8px; padding: 0 6px; margin-left: 6px; font-size: 11px; }
.aether-run .aether-badge.aether-tone-running { background: #1e88e5; }
.aether-run .aether-badge.aether-tone-waiting { background: #f59e0b; color: #222; }
.aether-run .aether-badge.aether-tone-done { background: #2e7d32; }
.aether-run .aether-badge.aether-tone-failed { background: #c62828; }
.aether-run .aether-badge.aether-tone-stopped { background: #616161; }
.aether-run .aether-badge.aether-tone-skipped, .aether-run .aether-badge.aether-tone-pending { background: #9e9e9e; }
/* The reason's text is the body colour (red on the red tint reads at 3.9:1 in JupyterLab Dark); the bar and the
   tint say it is an error. */
.aether-run .aether-reason { color: var(--jp-ui-font-color1, #222); background: rgba(244, 67, 54, 0.12);
  border-left: 3px solid var(--jp-error-color1, #c62828); padding: 4px 8px; word-break: break-word; }
.aether-run .aether-reason a { color: inherit; font-weight: 600; }
/* A run cut off by a dead kernel is not an error: grey, as "stopped" is. */
.aether-run .aether-reason[data-cut-off="true"] { background: rgba(117, 117, 117, 0.14); border-left-color: #757575; }
.aether-run[data-inert="true"] .aether-main, .aether-run[data-inert="true"] .aether-chat { opacity: 0.75; }
.aether-run .aether-inert-notice { background: rgba(255, 152, 0, 0.14); border-left-color: var(--jp-warn-color1, #f59e0b); }
.aether-run .aether-inert-notice code { background: var(--jp-layout-color2, #eee); padding: 0 4px; border-radius: 3px; }
.aether-run .aether-spacer { flex: 1; }
.aether-run .aether-button { font: inherit; border: 1px solid var(--jp-border-color1, #bbb); border-radius: 4px; padding: 3px 10px;
  background: var(--jp-layout-color2, #f3f3f3); color: var(--jp-ui-font-color1, #222); cursor: pointer; }
.aether-run .aether-button:hover:not(:disabled) { background: var(--jp-layout-color3, #e6e6e6); }
.aether-run .aether-button:disabled { opacity: 0.5; cursor: default; }
.aether-run .aether-primary { background: var(--jp-brand-color1, #1976d2); border-color: var(--jp-brand-color1, #1976d2); color: #fff; }
.aether-run .aether-primary:hover:not(:disabled) { background: var(--jp-brand-color0, #0d47a1); }
.aether-run .aether-danger { color: var(--jp-error-color1, #c62828); border-color: var(--jp-error-color1, #c62828); }
.aether-run .aether-icon-button { border: none; background: none; color: inherit; cursor: pointer; font-size: 16px; float: right; }
.aether-run .aether-notice { background: rgba(33, 150, 243, 0.12); color: var(--jp-ui-font-color1, #222);
  border-left: 3px solid var(--jp-info-color1, #1976d2); padding: 4px 8px; }
.aether-run .aether-render-error { background: rgba(244, 67, 54, 0.12); border-left: 3px solid var(--jp-error-color1, #c62828);
  padding: 4px 8px; white-space: pre-wrap; font-family: var(--jp-code-font-family, monospace); font-size: 12px; }
.aether-run .aether-control-error { color: var(--jp-error-color1, #c62828); font-size: 12px; }
.aether-run .aether-control-error:empty { display: none; }
.aether-run .aether-refused { align-self: flex-start; max-width: 75%; margin: 2px 0; padding: 2px 8px; font-size: 12px;
  border-left: 3px solid var(--jp-warn-color1, #f57c00); color: var(--jp-ui-font-color1, #222); }
.aether-run .aether-main { display: flex; gap: 8px; align-items: flex-start; }
.aether-run .aether-main[hidden] { display: none; }
.aether-run .aether-dag { flex: 1; min-width: 0; max-height: 520px; overflow: auto; border: 1px solid var(--jp-border-color3, #eee);
  border-radius: 4px; background: var(--jp-layout-color0, #fff);
  contain: content; /* a 1,000-node SVG changing 10x a second must not re-lay-out the notebook */ }
.aether-run .aether-dag-defs { position: absolute; }
.aether-run .aether-band { contain: strict; /* the band's size is set: what changes inside stays inside */
  content-visibility: auto; /* bands scrolled out of the DAG's view are skipped by layout and paint */ }
.aether-run .aether-dag-svg { display: block; font-size: 12px; }
.aether-run .aether-edge, .aether-run .aether-edge-part { fill: none; stroke: var(--jp-border-color1, #999); stroke-width: 1.2;
  pointer-events: none; /* a click on an edge over a group's box selects the group */ }
.aether-run .aether-arrow { fill: var(--jp-border-color1, #999); }
.aether-run .aether-node, .aether-run .aether-part { cursor: pointer; }
.aether-run .aether-node-box { fill: var(--jp-layout-color1, #fff); stroke: #9e9e9e; stroke-width: 1.5; }
.aether-run .aether-node-name { fill: var(--jp-ui-font-color1, #222); font-weight: 600; }
.aether-run .aether-node-meta { fill: var(--jp-ui-font-color2, #666); font-size: 11px; }
.aether-run .aether-tone-running > .aether-node-box { stroke: #1e88e5; fill: rgba(30, 136, 229, 0.14); }
.aether-run .aether-tone-waiting > .aether-node-box { stroke: #f59e0b; fill: rgba(245, 158, 11, 0.16); }
.aether-run .aether-tone-done > .aether-node-box { stroke: #2e7d32; fill: rgba(46, 125, 50, 0.12); }
.aether-run .aether-tone-failed > .aether-node-box { stroke: #c62828; fill: rgba(198, 40, 40, 0.14); }
.aether-run .aether-tone-skipped > .aether-node-box, .aether-run .aether-tone-pending > .aether-node-box { stroke: #9e9e9e; stroke-dasharray: 4 3; }
.aether-run .aether-tone-stopped > .aether-node-box { stroke: #757575; fill: rgba(117, 117, 117, 0.12); stroke-dasharray: 2 2; }
.aether-run .aether-tone-stopped > .aether-node-name { fill: var(--jp-ui-font-color2, #777); }
.aether-run .aether-node[data-kind="group"] > .aether-node-box, .aether-run .aether-part[data-kind="group"] > .aether-node-box { stroke-width: 2.5; }
.aether-run .aether-tone-skipped > .aether-node-name { fill: var(--jp-ui-font-color2, #888); }
.aether-run .aether-group > .aether-node-box { fill-opacity: 0.35; }
.aether-run .aether-selected > .aether-node-box { stroke-width: 3; }
.aether-run .aether-replayed-mark { fill: var(--jp-ui-font-color2, #666); font-size: 13px; }
.aether-run .aether-toggle rect { fill: var(--jp-layout-color2, #eee); stroke: var(--jp-border-color1, #999); }
.aether-run .aether-toggle text { fill: var(--jp-ui-font-color1, #222); font-weight: 700; }
.aether-run .aether-inspector { width: 340px; flex: none; max-height: 520px; overflow: auto; border: 1px solid var(--jp-border-color2, #ddd);
  border-radius: 4px; padding: 6px 8px; background: var(--jp-layout-color1, #fff); }
.aether-run .aether-inspector h4 { margin: 8px 0 2px; font-size: 12px; color: var(--jp-ui-font-color2, #666); }
.aether-run .aether-inspector pre { margin: 0; white-space: pre-wrap; word-break: break-word; font-family: var(--jp-code-font-family, monospace);
  font-size: 11px; background: var(--jp-layout-color2, #f6f6f6); padding: 4px; border-radius: 3px; max-height: 220px; overflow: auto; }
.aether-run .aether-error-title { color: var(--jp-error-color1, #c62828); font-weight: 600; }
.aether-run .aether-log-warning, .aether-run .aether-log-warn { color: var(--jp-warn-color1, #b26a00); }
.aether-run .aether-log-error { color: var(--jp-error-color1, #c62828); }
.aether-run .aether-chat { display: flex; flex-direction: column; gap: 6px; }
.aether-run .aether-chat[data-message-count="0"][data-wait-count="0"] > .aether-messages { display: none; }
.aether-run .aether-messages { display: flex; flex-direction: column; gap: 6px; max-height: 420px; overflow-y: auto; }
.aether-run .aether-bubble { max-width: 75%; padding: 6px 10px; border-radius: 10px; white-space: pre-wrap; word-break: break-word;
  background: var(--jp-layout-color2, #f1f1f1); align-self: flex-start; }
.aether-run .aether-bubble.aether-user { align-self: flex-end; background: rgba(33, 150, 243, 0.22); }
.aether-run .aether-msg-markdown { white-space: normal; }
.aether-run .aether-msg-markdown > :first-child { margin-top: 0; }
.aether-run .aether-msg-markdown > :last-child { margin-bottom: 0; }
.aether-run .aether-msg-markdown pre { background: var(--jp-layout-color3, #e8e8e8); padding: 4px; overflow: auto; }
.aether-run .aether-bubble img { max-width: 100%; max-height: 320px; display: block; }
.aether-run .aether-msg-progress { min-width: 260px; }
.aether-run .aether-progress { height: 6px; background: var(--jp-layout-color3, #ddd); border-radius: 3px; overflow: hidden; margin: 4px 0; }
.aether-run .aether-progress-bar { height: 100%; background: var(--jp-brand-color1, #1976d2); transition: width 0.2s; }
.aether-run .aether-cursor { opacity: 0.6; }
.aether-run[data-inert="true"] .aether-cursor, .aether-run[data-run-status="succeeded"] .aether-cursor,
.aether-run[data-run-status="failed"] .aether-cursor, .aether-run[data-run-status="cancelled"] .aether-cursor { display: none; }
.aether-run .aether-waits { display: flex; flex-direction: column; gap: 6px; }
.aether-run .aether-wait { border: 1px solid var(--jp-warn-color2, #f5c16c); border-radius: 6px; padding: 6px 8px;
  background: var(--jp-layout-color1, #fff); }
.aether-run .aether-wait-prompt > :first-child { margin-top: 0; }
.aether-run .aether-wait-prompt > :last-child { margin-bottom: 4px; }
.aether-run .aether-wait-row { display: flex; gap: 6px; flex-wrap: wrap; align-items: center; }
.aether-run .aether-text-input { flex: 1; min-width: 160px; font: inherit; padding: 3px 6px; color: var(--jp-ui-font-color1, #222);
  background: var(--jp-input-background, #fff); border: 1px solid var(--jp-input-border-color, #bbb); border-radius: 4px; }
.aether-run .aether-wait[data-state="answered"] { opacity: 0.6; }
.aether-run .aether-wait.aether-attention:not([data-state="answered"]) { border-color: var(--jp-warn-color1, #f57c00);
  box-shadow: 0 0 0 3px rgba(245, 124, 0, 0.35); } /* a message was typed in the message box instead */
.aether-run .aether-wait.aether-under-question { align-self: flex-start; max-width: 75%; margin-top: -2px; }
.aether-run .aether-wait.aether-under-question > .aether-wait-prompt,
.aether-run .aether-wait.aether-under-question > .aether-wait-payload { display: none; } /* the bubble above says it */
.aether-run .aether-payload { margin: 4px 0 0; white-space: pre-wrap; font-family: var(--jp-code-font-family, monospace); font-size: 11px;
  background: var(--jp-layout-color3, #e8e8e8); padding: 4px; border-radius: 3px; max-height: 200px; overflow: auto; }
.aether-run .aether-queued { opacity: 0.7; border: 1px dashed var(--jp-border-color1, #999); }
.aether-run .aether-queued-note { font-size: 11px; }
.aether-run .aether-file-chip { display: inline-block; border: 1px solid var(--jp-border-color1, #bbb); border-radius: 10px;
  padding: 0 8px; margin: 2px 4px 2px 0; background: var(--jp-layout-color1, #fff); }
.aether-run .aether-file-chip a { text-decoration: none; color: inherit; }
.aether-run .aether-message-box { border-top: 1px solid var(--jp-border-color2, #ddd); padding-top: 6px; }
.aether-run .aether-message-box.aether-listening .aether-text-input { border-color: var(--jp-brand-color1, #1976d2);
  box-shadow: 0 0 0 2px rgba(25, 118, 210, 0.25); }
`;
