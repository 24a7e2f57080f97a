// The live console: registrations, calls as they happen with their ladders (drawn by the render
// layer's SVG ladder, as in `trapezoid analyze --format html`), each message on a click, a call's
// capture as pcapng, CDR search with CSV, bans with unban, trunks and live charts.
import { renderSvg, SVG_LADDER_CSS } from '../../src/render/svg-ladder.ts';
import { REPORT_CSS } from '../../src/render/html-report-style.ts';
import {
  ladderCall,
  type Ban,
  type BindingRecord,
  type CallSummary,
  type CdrRecord,
  type ConsoleEvent,
  type LoggedMessage,
  type MediaSession,
  type TrunkState,
} from '../../src/server/console-model.ts';
import { download, follow, getJson, request, setToken, token } from './api.ts';
import { Charts } from './charts.ts';
import './console.css';

const style = document.createElement('style');
style.textContent = `${REPORT_CSS}\n${SVG_LADDER_CSS}`;
document.head.prepend(style);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** An element with text children (never HTML) and attributes. */
function el(
  tag: string,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const MAX_LISTED_CALLS = 300;
const calls = new Map<string, CallSummary>();
/** When each call's row was first drawn (the console test measures how fast a call shows). */
const firstSeen = new Map<string, number>();
const media = new Map<string, MediaSession>();
let canAct = false;
let selected: string | undefined;
let selectedMessages: LoggedMessage[] = [];
let selectedArrow: number | undefined;
/** The open call's own event stream (its detail, then its messages). */
let callFeed: AbortController | undefined;
const charts = new Charts($('charts'));

const time = (ms: number) => new Date(ms).toLocaleTimeString([], { hour12: false });
const dateTime = (ms: number) => new Date(ms).toLocaleString([], { hour12: false });

function duration(c: CallSummary): string {
  const from = c.answer ?? c.start;
  const to = c.end ?? Date.now();
  return `${((to - from) / 1000).toFixed(1)} s`;
}

function stateBadge(state: CallSummary['state']): HTMLElement {
  const cls: Record<CallSummary['state'], string> = {
    trying: 'st-in-progress',
    ringing: 'st-in-progress',
    answered: 'st-in-progress live',
    ended: 'st-completed',
    failed: 'st-failed',
  };
  return el('span', { class: `badge ${cls[state]}`, 'data-testid': 'call-state' }, state);
}

function mediaText(c: CallSummary): string {
  const live = media.get(c.callId);
  if (live) {
    const s = live.streams;
    const packets = s.reduce((n, x) => n + x.packets, 0);
    const lost = s.reduce((n, x) => n + Math.max(0, x.lost), 0);
    const jitter = Math.max(0, ...s.map((x) => x.jitterMs));
    const mos = s.map((x) => x.mos).filter((m): m is number => m !== undefined);
    return `${packets} pkts, ${lost} lost, ${jitter.toFixed(1)} ms${mos.length ? `, MOS ${Math.min(...mos).toFixed(2)}` : ''}`;
  }
  const m = c.media;
  if (!m) return '';
  return `${m.packets} pkts, ${m.lost} lost, ${m.jitterMs.toFixed(1)} ms${m.mos !== undefined ? `, MOS ${m.mos.toFixed(2)}` : ''}`;
}

function renderCalls(): void {
  const list = [...calls.values()].sort((a, b) => {
    const liveA = a.end === undefined ? 1 : 0;
    const liveB = b.end === undefined ? 1 : 0;
    return liveB - liveA || b.start - a.start;
  });
  $('calls-count').textContent =
    `${list.filter((c) => c.end === undefined).length} active, ${list.length} listed`;
  $('calls-body').replaceChildren(
    ...list.slice(0, MAX_LISTED_CALLS).map((c) => {
      if (!firstSeen.has(c.callId)) firstSeen.set(c.callId, Date.now());
      const row = el(
        'tr',
        {
          'data-testid': 'call-row',
          'data-call-id': c.callId,
          'data-first-seen': String(firstSeen.get(c.callId)),
          'data-state': c.state,
          tabindex: '0',
          class: c.callId === selected ? 'selected' : '',
        },
        el('td', {}, stateBadge(c.state)),
        el('td', { class: 'mono' }, c.caller),
        el('td', { class: 'mono' }, c.callee),
        el('td', {}, time(c.start)),
        el('td', { class: 'num' }, c.answer !== undefined ? duration(c) : ''),
        el('td', {}, c.codec ?? ''),
        el('td', { class: 'mono' }, mediaText(c)),
        el(
          'td',
          {},
          c.finalStatus ? `${c.finalStatus} ${c.finalReason ?? ''}` : '',
          c.cause && c.cause !== 'answered' ? ` (${c.cause})` : '',
        ),
      );
      row.addEventListener('click', () => select(c.callId));
      row.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') select(c.callId);
      });
      return row;
    }),
  );
  const active = list.filter((c) => c.end === undefined).length;
  $('tile-active').textContent = String(active);
}

/** Draws the call list and the open ladder at most once a frame, however many events came. */
let framePending = false;
let ladderDirty = false;
function scheduleRender(ladder = false): void {
  ladderDirty ||= ladder;
  if (framePending) return;
  framePending = true;
  requestAnimationFrame(() => {
    framePending = false;
    renderCalls();
    if (ladderDirty) {
      ladderDirty = false;
      renderLadder();
    }
  });
}

function renderLadder(): void {
  const c = selected ? calls.get(selected) : undefined;
  if (!c) return;
  $('detail-title').textContent = `${c.caller} → ${c.callee}`;
  $('detail-meta').replaceChildren(
    el('span', { class: 'mono' }, `Call-ID ${c.callId}`),
    ' · ',
    stateBadge(c.state),
    c.ladderLetGo
      ? ` · ${c.messageCount} messages, not kept (an answered call beyond the newest 50)`
      : ` · ${selectedMessages.length} messages`,
    c.codec ? ` · ${c.codec}` : '',
    c.trunk ? ` · trunk ${c.trunk}` : '',
  );
  const pcap = $<HTMLButtonElement>('pcap');
  pcap.hidden = !c.capture;
  const ladder = ladderCall({ ...c, messages: selectedMessages });
  $('ladder').innerHTML = renderSvg(ladder, { style: false });
  if (selectedArrow !== undefined) markArrow(selectedArrow);
}

function markArrow(index: number): void {
  for (const a of $('ladder').querySelectorAll('[data-testid="arrow"]')) {
    a.classList.toggle('tz-selected', a.getAttribute('data-index') === String(index));
  }
  $('message').textContent = selectedMessages[index]?.raw ?? '';
}

function select(callId: string): void {
  selected = callId;
  selectedMessages = [];
  selectedArrow = undefined;
  $('message').textContent = 'Click an arrow to read its message.';
  renderCalls();
  callFeed?.abort();
  callFeed = new AbortController();
  void follow(
    `/api/calls/${encodeURIComponent(callId)}/events`,
    {
      event: (e) => {
        if (selected !== callId) return;
        if (e.type === 'detail') {
          selectedMessages = e.call.messages;
          calls.set(callId, { ...calls.get(callId), ...e.call });
          scheduleRender(true);
        } else if (e.type === 'message') {
          selectedMessages[e.index] = e.message;
          scheduleRender(true);
        }
      },
      status: () => {},
      refused: (status) => {
        if (selected === callId)
          $('detail-meta').textContent = status === 404 ? 'this call is no longer kept' : 'refused';
      },
    },
    callFeed.signal,
  );
}

$('ladder').addEventListener('click', (e) => {
  const arrow = (e.target as Element).closest('[data-testid="arrow"]');
  if (!arrow) return;
  selectedArrow = Number(arrow.getAttribute('data-index'));
  markArrow(selectedArrow);
});

$('pcap').addEventListener('click', () => {
  if (selected)
    void download(`/api/calls/${encodeURIComponent(selected)}/pcap`, 'call.pcapng').catch((err) =>
      alert((err as Error).message),
    );
});

function renderRegistrations(bindings: BindingRecord[]): void {
  $('reg-count').textContent = String(bindings.length);
  $('tile-registrations').textContent = String(bindings.length);
  const now = Date.now();
  $('reg-body').replaceChildren(
    ...bindings.map((b) =>
      el(
        'tr',
        { 'data-testid': 'registration', 'data-aor': b.aor },
        el('td', { class: 'mono' }, b.aor),
        el('td', { class: 'mono' }, b.target),
        el('td', { class: 'ellipsis' }, b.userAgent ?? ''),
        el('td', { class: 'num' }, `${Math.max(0, Math.round((b.expiresAt - now) / 1000))} s`),
      ),
    ),
  );
}

function renderBans(bans: Ban[]): void {
  $('ban-count').textContent = String(bans.length);
  $('tile-bans').textContent = String(bans.length);
  $('ban-body').replaceChildren(
    ...bans.map((b) => {
      const button = el('button', { type: 'button', 'data-testid': 'unban' }, 'Unban');
      if (!canAct) {
        button.setAttribute('disabled', '');
        button.title = 'needs the API token (http.token)';
      }
      button.addEventListener('click', () => {
        void request(`/api/bans/${encodeURIComponent(b.source)}`, { method: 'DELETE' }).catch(
          (err) => alert((err as Error).message),
        );
      });
      return el(
        'tr',
        { 'data-testid': 'ban' },
        el('td', { class: 'mono' }, b.source),
        el('td', {}, b.reason + (b.user ? ` (${b.user})` : '')),
        el('td', {}, dateTime(Date.parse(b.until))),
        el('td', { class: 'num' }, String(b.count)),
        el('td', {}, button),
      );
    }),
  );
}

/** A trunk's peers in failover order, each with how the last call sent to it ended. */
function trunkPeers(t: TrunkState): HTMLElement {
  return el(
    'div',
    { class: 'trunk-peers' },
    ...(t.peers ?? []).map((p, i) => {
      const last = p.last;
      const outcome = last
        ? [
            el(
              'span',
              {
                class: `badge ${last.status < 300 ? 'st-completed' : 'st-failed'}`,
                'data-testid': 'peer-status',
              },
              String(last.status),
            ),
            last.failedOver ? ' failed over to the next · ' : ' · ',
            time(last.ts),
          ]
        : ['no call yet'];
      return el(
        'div',
        { 'data-testid': 'trunk-peer', ...(last?.failedOver ? { class: 'failed-over' } : {}) },
        `${i + 1}. ${p.peer} `,
        ...outcome,
      );
    }),
  );
}

function renderTrunks(trunks: TrunkState[]): void {
  $('trunk-body').replaceChildren(
    ...trunks.map((t) =>
      el(
        'tr',
        { 'data-testid': 'trunk' },
        el('td', {}, t.name),
        el('td', {}, trunkPeers(t)),
        el('td', {}, t.registration?.state ?? 'no registration'),
        el(
          'td',
          { class: 'num' },
          t.registration?.lastStatus ? String(t.registration.lastStatus) : '',
        ),
        el('td', { class: 'num' }, t.registration?.granted ? String(t.registration.granted) : ''),
      ),
    ),
  );
}

function onEvent(e: ConsoleEvent): void {
  switch (e.type) {
    case 'hello':
      canAct = e.canAct;
      $('access').textContent = canAct ? ' · actions allowed (token)' : ' · read only';
      calls.clear();
      for (const c of e.calls) calls.set(c.callId, c);
      renderCalls();
      return;
    case 'calls':
      for (const c of e.calls) calls.set(c.callId, c);
      while (calls.size > MAX_LISTED_CALLS * 2) {
        const oldest = calls.keys().next().value!;
        calls.delete(oldest);
        firstSeen.delete(oldest);
      }
      scheduleRender(selected !== undefined && e.calls.some((c) => c.callId === selected));
      return;
    case 'detail':
    case 'message':
      return; // only on a call's own stream (select)
    case 'registrations':
      return renderRegistrations(e.bindings);
    case 'bans':
      return renderBans(e.bans);
    case 'trunks':
      return renderTrunks(e.trunks);
    case 'media':
      media.clear();
      for (const s of e.sessions) media.set(s.callId, s);
      scheduleRender();
      return;
    case 'metrics': {
      const p = charts.add(e.sample);
      if (p) {
        $('tile-cps').textContent = p.cps.toFixed(1);
        $('tile-failures').textContent = (p.fail4 + p.fail5 + p.fail6).toFixed(1);
      }
      // Durations of answered calls move on.
      if ([...calls.values()].some((c) => c.answer !== undefined && c.end === undefined))
        scheduleRender();
      return;
    }
  }
}

function cdrParams(form: HTMLFormElement): URLSearchParams {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) {
    const text = String(v).trim();
    if (!text) continue;
    params.set(k, k === 'since' || k === 'until' ? String(new Date(text).getTime()) : text);
  }
  params.set('limit', '500');
  return params;
}

const cdrForm = $<HTMLFormElement>('cdr-form');
async function searchCdrs(): Promise<void> {
  const rows = await getJson<CdrRecord[]>(`/api/cdrs?${cdrParams(cdrForm)}`);
  $('cdr-body').replaceChildren(
    ...rows.map((r) =>
      el(
        'tr',
        { 'data-testid': 'cdr', 'data-call-id': r.callId },
        el('td', {}, dateTime(r.start)),
        el('td', { class: 'mono' }, r.caller),
        el('td', { class: 'mono' }, r.callee),
        el('td', { class: 'mono' }, r.dialled),
        el('td', { class: 'num' }, r.duration !== undefined ? `${r.duration.toFixed(1)} s` : ''),
        el('td', { class: 'num' }, String(r.finalStatus)),
        el('td', {}, r.cause),
        el('td', {}, r.hungUpBy ?? ''),
        el('td', {}, r.trunk ?? ''),
        el('td', { class: 'num' }, r.mos !== undefined && r.mos !== null ? r.mos.toFixed(2) : ''),
      ),
    ),
  );
}
cdrForm.addEventListener('submit', (e) => {
  e.preventDefault();
  void searchCdrs().catch((err) => alert((err as Error).message));
});
$('cdr-csv').addEventListener('click', () => {
  const params = cdrParams(cdrForm);
  params.set('format', 'csv');
  void download(`/api/cdrs?${params}`, 'cdrs.csv').catch((err) => alert((err as Error).message));
});

const tokenForm = $<HTMLFormElement>('token-form');
tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  setToken($<HTMLInputElement>('token').value.trim());
  tokenForm.hidden = true;
  start();
});

let feed: AbortController | undefined;
function start(): void {
  feed?.abort();
  feed = new AbortController();
  const status = (text: string, ok: boolean) => {
    const s = $('feed-status');
    s.textContent = text;
    s.classList.toggle('ok', ok);
  };
  void follow(
    '/api/events',
    {
      event: onEvent,
      status,
      refused: () => {
        status('needs the API token', false);
        tokenForm.hidden = false;
        if (token()) setToken('');
      },
    },
    feed.signal,
  );
  if (selected) select(selected);
  void searchCdrs().catch(() => {});
}
start();
