// The script of the HTML report, inlined as text. Plain ES2017 that runs in any current browser:
// sorting and filtering the call list, opening a call (cloning its <template>), showing the text
// of a message when its arrow is clicked, and stepping through messages with ↑/↓ or j/k.
// It reads the report's data from <script type="application/json" id="report-data"> and only
// ever writes message text with textContent.
export const REPORT_SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var detail = document.getElementById('call-detail');
  var table = document.getElementById('call-table');
  var rows = table ? Array.prototype.slice.call(table.querySelectorAll('tr[data-testid="call-row"]')) : [];
  var current = -1;
  var selected = -1;

  function make(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function openCall(i, scroll) {
    var tpl = document.getElementById('call-' + i);
    if (!tpl) return;
    current = i;
    selected = -1;
    rows.forEach(function (r) {
      var on = Number(r.getAttribute('data-call')) === i;
      r.classList.toggle('selected', on);
      r.setAttribute('aria-selected', on ? 'true' : 'false');
    });
    detail.replaceChildren(tpl.content.cloneNode(true));
    detail.hidden = false;
    if (history.replaceState) history.replaceState(null, '', '#call-' + (i + 1));
    if (scroll) detail.scrollIntoView({ block: 'start' });
  }

  function formatMessage(raw) {
    var pre = make('pre');
    var lines = raw.replace(/\\r\\n/g, '\\n').split('\\n');
    var inBody = false;
    lines.forEach(function (line, n) {
      var span;
      if (n === 0) {
        span = make('span', 'start' + (/^SIP\\/2\\.0 /.test(line) ? ' resp' : ''), line);
      } else if (inBody) {
        span = make('span', 'body', line);
      } else if (line === '') {
        inBody = true;
        span = make('span', '', '');
      } else {
        var colon = line.indexOf(':');
        span = make('span');
        if (colon > 0 && !/^\\s/.test(line)) {
          span.appendChild(make('span', 'hn', line.slice(0, colon + 1)));
          span.appendChild(document.createTextNode(line.slice(colon + 1)));
        } else {
          span.textContent = line;
        }
      }
      pre.appendChild(span);
      if (n < lines.length - 1) pre.appendChild(document.createTextNode('\\n'));
    });
    return pre;
  }

  function showMessage(index) {
    var call = data.calls[current];
    if (!call) return;
    var m = null;
    for (var k = 0; k < call.messages.length; k++) if (call.messages[k].index === index) m = call.messages[k];
    if (!m) return;
    selected = index;
    detail.querySelectorAll('[data-testid="arrow"]').forEach(function (a) {
      var on = Number(a.getAttribute('data-index')) === index;
      a.classList.toggle('tz-selected', on);
      if (on && a.scrollIntoView) a.scrollIntoView({ block: 'nearest' });
    });
    var pane = detail.querySelector('[data-testid="message-detail"]');
    var meta = make('div', 'meta');
    var parts = [];
    if (m.frame !== undefined && m.frame !== null) parts.push('frame ' + m.frame);
    parts.push('+' + m.time.toFixed(3) + ' s');
    parts.push(m.transport);
    meta.appendChild(make('b', '', m.from + ' → ' + m.to));
    meta.appendChild(document.createTextNode('  ' + parts.join(' · ') + (m.retransmission ? ' · retransmission' : '')));
    pane.replaceChildren(meta, formatMessage(m.raw));
    pane.scrollTop = 0;
  }

  // Opens the call holding a capture frame and shows that message (links in the findings).
  function openFrame(frame) {
    for (var i = 0; i < data.calls.length; i++) {
      var ms = data.calls[i].messages;
      for (var k = 0; k < ms.length; k++) {
        if (ms[k].frame === frame) { openCall(i, true); showMessage(ms[k].index); return; }
      }
    }
  }

  function step(delta) {
    var call = data.calls[current];
    if (!call || call.messages.length === 0) return;
    var order = call.messages.map(function (m) { return m.index; });
    var at = order.indexOf(selected);
    var next = at < 0 ? (delta > 0 ? 0 : order.length - 1) : Math.min(order.length - 1, Math.max(0, at + delta));
    showMessage(order[next]);
  }

  rows.forEach(function (r) {
    var i = Number(r.getAttribute('data-call'));
    r.addEventListener('click', function () { openCall(i, true); });
    r.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); openCall(i, true); }
    });
  });

  document.addEventListener('click', function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    var link = t.closest('[data-open-call]');
    if (link) { e.preventDefault(); openCall(Number(link.getAttribute('data-open-call')), true); return; }
    var frameLink = t.closest('[data-frame-link]');
    if (frameLink) { e.preventDefault(); openFrame(Number(frameLink.getAttribute('data-frame-link'))); return; }
    var arrow = t.closest('#call-detail [data-testid="arrow"]');
    if (arrow) showMessage(Number(arrow.getAttribute('data-index')));
  });

  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if (current < 0 || (t instanceof HTMLElement && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA'))) return;
    if (e.key === 'ArrowDown' || e.key === 'j') { e.preventDefault(); step(1); }
    else if (e.key === 'ArrowUp' || e.key === 'k') { e.preventDefault(); step(-1); }
  });

  if (table) table.querySelectorAll('th[data-sort]').forEach(function (th) {
    th.addEventListener('click', function () {
      var col = Array.prototype.indexOf.call(th.parentNode.children, th);
      var numeric = th.getAttribute('data-sort') === 'num';
      var asc = !th.classList.contains('asc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var key = function (r) {
        var c = r.children[col];
        var v = c.getAttribute('data-value');
        if (v === null) v = c.textContent;
        return numeric ? Number(v) : v.toLowerCase();
      };
      var sorted = rows.slice().sort(function (a, b) {
        var x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      var body = table.tBodies[0];
      sorted.forEach(function (r) { body.appendChild(r); });
    });
  });

  var filter = document.getElementById('call-filter');
  if (filter) filter.addEventListener('input', function () {
    var q = filter.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (r) {
      var hit = q === '' || r.textContent.toLowerCase().indexOf(q) >= 0;
      r.hidden = !hit;
      if (hit) shown++;
    });
    var count = document.getElementById('call-count');
    if (count) count.textContent = q === '' ? String(rows.length) : shown + ' of ' + rows.length;
  });

  var m = /^#call-(\\d+)$/.exec(location.hash);
  if (m) openCall(Number(m[1]) - 1, false);
})();
`;
