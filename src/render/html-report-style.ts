// The stylesheet of the HTML report (inlined: the report is one file that works offline).
export const REPORT_CSS = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--accent:#2563eb;
--ok:#15803d;--warn:#b45309;--bad:#dc2626;--rtp:#7c3aed;--mono:ui-monospace,'SFMono-Regular','DejaVu Sans Mono',Menlo,Consolas,monospace}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
header.top{background:#0f172a;color:#e2e8f0;padding:18px 28px 20px}
header.top h1{margin:0;font-size:20px;font-weight:650;color:#fff;letter-spacing:.2px}
header.top h1 .brand{color:#93c5fd;font-weight:700;margin-right:10px}
header.top .source{margin-top:2px;color:#94a3b8;font-family:var(--mono);font-size:12.5px}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
.tile{background:#1e293b;border:1px solid #334155;border-radius:8px;padding:8px 14px;min-width:108px}
.tile b{display:block;font-size:20px;color:#fff;font-variant-numeric:tabular-nums}
.tile span{font-size:11.5px;text-transform:uppercase;letter-spacing:.6px;color:#94a3b8}
.tile.bad b{color:#fca5a5}.tile.ok b{color:#86efac}.tile.warn b{color:#fcd34d}
main{padding:20px 28px 40px;max-width:1600px}
section.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin-bottom:18px;box-shadow:0 1px 2px rgba(15,23,42,.04)}
section.card>h2{margin:0 0 12px;font-size:15px;font-weight:650;display:flex;align-items:center;gap:10px}
section.card>h2 .count{color:var(--muted);font-weight:500;font-size:13px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px}
.grid2>section.card{margin-bottom:0}
.grid2{margin-bottom:18px;align-items:start}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);white-space:nowrap}
th{font-size:11.5px;text-transform:uppercase;letter-spacing:.5px;color:var(--muted);font-weight:600;background:#f8fafc;position:sticky;top:0}
th[data-sort]{cursor:pointer;user-select:none}
th[data-sort]:hover{color:var(--ink)}
th.asc::after{content:' ▲';font-size:9px}th.desc::after{content:' ▼';font-size:9px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.mono{font-family:var(--mono);font-size:12.5px}
td.wrap{white-space:normal}
.ellipsis{max-width:280px;overflow:hidden;text-overflow:ellipsis}
.table-scroll{overflow:auto;max-height:460px;border:1px solid var(--line);border-radius:8px}
.table-scroll table th{border-bottom:1px solid var(--line)}
tr[data-testid=call-row]{cursor:pointer}
tr[data-testid=call-row]:hover td{background:#f1f5f9}
tr[data-testid=call-row].selected td{background:#dbeafe}
tr[data-testid=call-row]:focus{outline:2px solid var(--accent);outline-offset:-2px}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:11.5px;font-weight:600;border:1px solid transparent}
.st-completed{background:#dcfce7;color:#166534}.st-rejected,.st-failed{background:#fee2e2;color:#991b1b}
.st-cancelled{background:#f1f5f9;color:#475569}.st-in-progress{background:#fef3c7;color:#92400e}
.code-1xx{color:var(--warn)}.code-2xx{color:var(--ok)}.code-3xx{color:#0891b2}.code-4xx,.code-5xx,.code-6xx{color:var(--bad)}
.sev{display:inline-block;min-width:64px;text-align:center;padding:1px 8px;border-radius:4px;font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.5px}
.sev-high{background:#dc2626;color:#fff}.sev-medium{background:#f97316;color:#fff}.sev-low{background:#fde68a;color:#78350f}.sev-info{background:#dbeafe;color:#1e40af}
.warnings{background:#fffbeb;border:1px solid #fcd34d;color:#78350f;border-radius:8px;padding:10px 14px;margin-bottom:18px}
.warnings ul{margin:4px 0 0;padding-left:20px}
.toolbar{display:flex;gap:10px;align-items:center;margin-bottom:10px}
.toolbar input{flex:0 1 340px;padding:6px 10px;border:1px solid #cbd5e1;border-radius:6px;font:inherit}
.toolbar .hint{color:var(--muted);font-size:12px}
.bars{display:grid;grid-template-columns:max-content 1fr max-content;gap:4px 10px;align-items:center;font-size:13px}
.bars .k{font-family:var(--mono);font-size:12.5px}
.bars .bar{height:10px;border-radius:3px;background:var(--accent);min-width:2px}
.bars .bar.c1xx{background:var(--warn)}.bars .bar.c2xx{background:var(--ok)}.bars .bar.c3xx{background:#0891b2}
.bars .bar.c4xx,.bars .bar.c5xx,.bars .bar.c6xx{background:var(--bad)}
.bars .v{text-align:right;font-variant-numeric:tabular-nums;color:var(--muted)}
.stats-cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:18px}
.stats-cols h3{margin:0 0 6px;font-size:12px;text-transform:uppercase;letter-spacing:.5px;color:var(--muted)}
.empty{color:var(--muted);font-style:italic}
#call-detail[hidden]{display:none}
.call-head{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center;margin-bottom:12px}
.call-head .cid{font-family:var(--mono);font-size:13px;color:var(--muted)}
.call-head .parties{font-weight:600}
.call-audio{display:flex;align-items:center;gap:10px;margin:0 0 12px;font-size:13px;color:var(--muted)}
audio{height:30px;width:200px;vertical-align:middle}
.ladder-layout{display:grid;grid-template-columns:minmax(0,1fr) minmax(340px,34%);gap:16px;align-items:start}
@media (max-width:1100px){.ladder-layout{grid-template-columns:1fr}}
.ladder-scroll{overflow:auto;border:1px solid var(--line);border-radius:8px;background:#fff;max-height:78vh}
.ladder-scroll svg{display:block;max-width:100%;height:auto}
.message-pane{position:sticky;top:12px;border:1px solid var(--line);border-radius:8px;background:#0b1220;color:#e2e8f0;max-height:78vh;overflow:auto}
.message-pane .meta{padding:8px 12px;border-bottom:1px solid #1e293b;font-size:12px;color:#94a3b8;font-family:var(--mono);position:sticky;top:0;background:#0b1220}
.message-pane .meta b{color:#e2e8f0}
.message-pane pre{margin:0;padding:10px 12px;font:12.5px/1.5 var(--mono);white-space:pre-wrap;word-break:break-all}
.message-pane .start{color:#93c5fd;font-weight:700}
.message-pane .start.resp{color:#86efac}
.message-pane .hn{color:#fbbf24}
.message-pane .body{color:#c4b5fd}
.message-pane .placeholder{padding:16px;color:#94a3b8;font-size:13px}
.rtp-title{margin:16px 0 8px;font-size:13px;font-weight:650}
a.call-link{color:var(--accent);cursor:pointer;text-decoration:none}
a.call-link:hover{text-decoration:underline}
.mos-good{color:var(--ok);font-weight:600}.mos-fair{color:var(--warn);font-weight:600}.mos-bad{color:var(--bad);font-weight:600}
.loss{color:var(--bad);font-weight:600}
footer{color:var(--muted);font-size:12px;padding:0 28px 24px}
kbd{font:11px var(--mono);border:1px solid #cbd5e1;border-bottom-width:2px;border-radius:4px;padding:0 4px;background:#fff}
`;
