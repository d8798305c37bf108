// possync ops dashboard: sign-in with the admin token (kept in this tab's
// sessionStorage, never in a URL), live figures and events from /api/live,
// sessions and sync orders from the ops HTTP API. Plain DOM; every value
// from the broker goes in as text, never as HTML.
'use strict';

const TOKEN_KEY = 'possync.adminToken';
const CHART_POINTS = 300;  // five minutes at one stats frame per second
const PAGE_SIZE = 25;
const MAX_EVENTS = 200;

const state = {
  token: null,
  ws: null,
  retries: 0,
  retryTimer: null,
  watchdog: null,
  lastStatsAt: 0,
  charts: null,
  orders: { filters: {}, before: null, newer: [], next: null },
  detailId: null,
  refreshTimers: {},
};

// ---- small helpers -------------------------------------------------------------

const $ = (id) => document.getElementById(id);

// h('td', {class: 'x'}, 'text', childNode…): an element with text children.
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c == null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

function fmtMs(seconds) {
  if (seconds == null) return '–';
  const ms = seconds * 1000;
  return (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)) + ' ms';
}

function fmtUptime(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${mm}m`;
  return `${mm}m ${s % 60}s`;
}

function statusBadge(status, session) {
  return h('span', { class: `badge st-${status}`, 'data-status': status }, session ? `${session}: ${status}` : status);
}

function banner(text, bad) {
  const b = $('banner');
  b.hidden = !text;
  b.textContent = text || '';
  b.classList.toggle('bad', !!bad);
}

function setLink(linkState, text) {
  $('link').dataset.state = linkState;
  $('link-text').textContent = text;
}

// ---- the ops HTTP API ------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: { Authorization: 'Bearer ' + state.token, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      cache: 'no-store',
    });
  } catch (e) {
    banner('The broker is unreachable. Retrying…', true);
    throw new ApiError(0, 'unreachable', 'the broker is unreachable');
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (res.status === 401 || res.status === 403) {
    signOut('The admin token was refused. Enter the current one.');
    throw new ApiError(res.status, 'unauthorized', 'wrong admin token');
  }
  if (!res.ok) throw new ApiError(res.status, data && data.error, data && data.message);
  return data;
}

function showError(e) {
  if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return;
  if (e instanceof ApiError && e.status === 0) return;  // the banner says it
  banner(`Error: ${e.message}`, true);
}

// ---- sign-in ----------------------------------------------------------------------

async function signIn(token) {
  const err = $('login-error');
  err.hidden = true;
  let res;
  try {
    res = await fetch('/api/stats', { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
  } catch (e) {
    err.textContent = `Cannot reach the broker at ${location.host}. Is it running?`;
    err.hidden = false;
    return;
  }
  if (res.status === 401 || res.status === 403) {
    err.textContent = 'Wrong admin token.';
    err.hidden = false;
    return;
  }
  if (!res.ok) {
    err.textContent = `The broker answered HTTP ${res.status}.`;
    err.hidden = false;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  start(token);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  clearTimeout(state.retryTimer);
  clearInterval(state.watchdog);
  if (state.ws) {
    state.ws.onclose = null;
    state.ws.close();
    state.ws = null;
  }
  setLink('idle', 'not connected');
  banner('');
  $('app').hidden = true;
  $('detail').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  const err = $('login-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('token').value = '';
  $('token').focus();
}

function start(token) {
  state.token = token;
  $('login').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  if (!state.charts) {
    state.charts = {
      connections: new LineChart($('chart-connections'), 1, CHART_POINTS),
      rate: new LineChart($('chart-rate'), 1, CHART_POINTS),
      latency: new LineChart($('chart-latency'), 2, CHART_POINTS),
    };
  }
  connectLive();
  loadSessions();
  loadOrders(null);
  clearInterval(state.watchdog);
  // A stream that went silent (a half-open connection) is replaced.
  state.watchdog = setInterval(() => {
    if (state.ws && state.ws.readyState === WebSocket.OPEN && state.lastStatsAt &&
        Date.now() - state.lastStatsAt > 5000) {
      state.ws.close();
    }
  }, 1000);
}

// ---- /api/live ----------------------------------------------------------------------

function connectLive() {
  if (!state.token) return;
  clearTimeout(state.retryTimer);
  setLink('connecting', 'connecting…');
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/live');
  state.ws = ws;
  let welcomed = false;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token: state.token }));
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (e) { return; }
    if (msg.type === 'welcome') {
      welcomed = true;
      state.retries = 0;
      setLink('live', 'live');
      banner('');
    } else if (msg.type === 'stats') {
      onStats(msg);
    } else if (msg.type === 'event') {
      onEvent(msg);
    }
  };
  ws.onclose = (e) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (e.code === 4401) return signOut('The admin token was refused. Enter the current one.');
    const delay = Math.min(10000, 500 * 2 ** state.retries++);
    setLink(welcomed ? 'retrying' : 'unreachable', `reconnecting in ${Math.ceil(delay / 1000)} s`);
    banner(e.code === 1001 ? 'The broker is shutting down. Reconnecting…' : 'The broker is unreachable. Reconnecting…', true);
    state.retryTimer = setTimeout(() => {
      connectLive();
      // Catch up on what changed while away.
      loadSessions();
      if (!state.orders.before) loadOrders(null);
    }, delay);
  };
}

function onStats(s) {
  state.lastStatsAt = Date.now();
  const r = s.rates || {};
  const errors = Object.values(s.errors || {}).reduce((a, b) => a + b, 0);
  $('k-connections').textContent = s.connections;
  $('k-online').textContent = s.sessions_online;
  $('k-orders').textContent = s.orders_sent;
  $('k-rate').textContent = (r.orders_per_s || 0).toFixed(1);
  $('k-p50').textContent = fmtMs(r.send_to_push_p50_s);
  $('k-p99').textContent = fmtMs(r.send_to_push_p99_s);
  $('k-queue').textContent = s.store ? s.store.queue_depth : '–';
  $('k-errors').textContent = errors;
  $('node').textContent = `${s.node_id} · v${s.version} · up ${fmtUptime(s.uptime_s)}`;
  state.charts.connections.push([s.connections]);
  state.charts.rate.push([r.orders_per_s || 0]);
  const ms = (v) => (v == null ? null : v * 1000);
  state.charts.latency.push([ms(r.send_to_push_p50_s), ms(r.send_to_push_p99_s)]);
}

function describe(ev) {
  if (ev.event === 'order') {
    const to = (ev.receivers || []).map((x) => x.session).join(', ');
    return `#${ev.order_id} ${ev.ref} from ${ev.from} to ${to} (${ev.line_count} lines)`;
  }
  if (ev.event === 'status') {
    return `#${ev.order_id} ${ev.session}: ${ev.status} by ${ev.by}${ev.reason ? ` (${ev.reason})` : ''}`;
  }
  if (ev.event === 'presence') return `${ev.session} (${ev.shop}) ${ev.online ? 'online' : 'offline'}`;
  return JSON.stringify(ev);
}

function onEvent(ev) {
  const list = $('events');
  const at = ev.at || ev.created_at || new Date().toISOString();
  list.prepend(h('li', { 'data-event': ev.event }, h('time', { title: at }, fmtTime(at)),
    h('span', { class: 'kind' }, ev.event), h('span', null, describe(ev))));
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();

  if (ev.event === 'presence') debounce('sessions', loadSessions);
  if (ev.event === 'order' || ev.event === 'status') {
    if (!state.orders.before) debounce('orders', () => loadOrders(null));
    if (state.detailId === ev.order_id) debounce('detail', () => openOrder(ev.order_id));
  }
}

function debounce(name, fn) {
  if (state.refreshTimers[name]) return;
  state.refreshTimers[name] = setTimeout(() => {
    state.refreshTimers[name] = null;
    fn();
  }, 400);
}

// ---- sessions ------------------------------------------------------------------------

async function loadSessions() {
  const shop = $('session-shop').value.trim();
  try {
    const data = await api('GET', '/api/sessions' + (shop ? '?shop=' + encodeURIComponent(shop) : ''));
    renderSessions(data.sessions);
  } catch (e) {
    showError(e);
  }
}

function renderSessions(sessions) {
  const rows = sessions.map((s) => h('tr', { 'data-session': s.session },
    h('td', null, h('code', null, s.session)),
    h('td', null, s.name),
    h('td', null, s.shop),
    h('td', null, s.sender ? h('span', { class: 'badge' }, 'sender') : null,
      s.receiver ? h('span', { class: 'badge' }, 'receiver') : null),
    h('td', { class: s.online ? 'online' : 'offline', 'data-online': s.online }, s.online ? '● online' : '○ offline'),
    h('td', { 'data-connections': s.connections }, s.connections),
    h('td', { class: 'actions' },
      h('button', { class: 'quiet', 'data-action': 'rotate', onclick: () => rotateToken(s.session) }, 'Rotate token'),
      h('button', { class: 'danger', 'data-action': 'delete', onclick: () => deleteSession(s.session) }, 'Delete'))));
  $('sessions-body').replaceChildren(...rows);
  if (!rows.length) $('sessions-body').append(h('tr', null, h('td', { colspan: 7, class: 'muted' }, 'No sessions.')));
}

function showToken(session, token) {
  $('token-session').textContent = session;
  $('token-value').textContent = token;
  $('token-box').hidden = false;
  $('token-box').scrollIntoView({ block: 'nearest' });
}

async function rotateToken(id) {
  if (!confirm(`Rotate the token of ${id}? Its terminals are disconnected until they get the new one.`)) return;
  try {
    const r = await api('POST', `/api/sessions/${encodeURIComponent(id)}/token`);
    showToken(id, r.token);
  } catch (e) {
    showError(e);
  }
}

async function deleteSession(id) {
  if (!confirm(`Delete session ${id}? Its orders stay in the history.`)) return;
  try {
    await api('DELETE', `/api/sessions/${encodeURIComponent(id)}`);
    loadSessions();
  } catch (e) {
    showError(e);
  }
}

async function createSession(form) {
  const f = new FormData(form);
  const id = String(f.get('id')).trim();
  const body = { sender: f.get('sender') === 'on', receiver: f.get('receiver') === 'on' };
  if (String(f.get('name')).trim()) body.name = String(f.get('name')).trim();
  if (String(f.get('shop')).trim()) body.shop = String(f.get('shop')).trim();
  try {
    const r = await api('PUT', `/api/sessions/${encodeURIComponent(id)}`, body);
    if (r.token) showToken(id, r.token);
    else banner(`Session ${id} existed: updated, its token is unchanged.`);
    form.reset();
    loadSessions();
  } catch (e) {
    showError(e);
  }
}

// ---- orders ----------------------------------------------------------------------------

async function loadOrders(before) {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const [k, v] of Object.entries(state.orders.filters)) if (v) q.set(k, v);
  if (before) q.set('before', String(before));
  try {
    const data = await api('GET', '/api/orders?' + q.toString());
    state.orders.before = before;
    state.orders.next = data.next_before;
    renderOrders(data.orders);
  } catch (e) {
    showError(e);
  }
}

function renderOrders(orders) {
  const rows = orders.map((o) => h('tr', { 'data-order-id': o.order_id, onclick: () => openOrder(o.order_id) },
    h('td', null, o.order_id),
    h('td', { class: 'ref' }, o.ref),
    h('td', { class: 'from' }, o.from),
    h('td', { class: 'receivers' }, (o.receivers || []).map((r) => statusBadge(r.status, r.session))),
    h('td', null, o.mode),
    h('td', null, o.line_count),
    h('td', { title: o.created_at }, fmtTime(o.created_at)),
    h('td', { title: o.updated_at }, fmtTime(o.updated_at))));
  $('orders-body').replaceChildren(...rows);
  if (!rows.length) $('orders-body').append(h('tr', null, h('td', { colspan: 8, class: 'muted' }, 'No orders.')));
  $('page-older').disabled = !state.orders.next;
  $('page-newer').disabled = !state.orders.newer.length;
  $('page-newest').disabled = !state.orders.before;
  $('page-info').textContent = state.orders.before ? `before #${state.orders.before}` : 'newest';
}

async function openOrder(id) {
  state.detailId = id;
  try {
    const o = await api('GET', `/api/orders/${id}`);
    if (state.detailId !== id) return;
    renderDetail(o);
    $('detail').hidden = false;
  } catch (e) {
    showError(e);
  }
}

function renderDetail(o) {
  const order = o.order || {};
  $('detail-title').textContent = `Order #${o.order_id} · ${o.ref}`;
  const meta = [['From', o.from], ['Mode', o.mode], ['Created', fmtTime(o.created_at)], ['Updated', fmtTime(o.updated_at)]];
  if (order.name) meta.push(['Name', order.name]);
  if (order.note) meta.push(['Note', order.note]);
  // Free fields the POS sent along (table, guests, pricelist…), verbatim.
  for (const [k, v] of Object.entries(order)) {
    if (['name', 'note', 'lines', 'customer'].includes(k)) continue;
    meta.push([k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
  }
  $('detail-meta').replaceChildren(...meta.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  const c = order.customer;
  $('detail-customer').textContent = c ? [c.name, c.phone, c.email, c.id != null ? `id ${c.id}` : null]
    .filter(Boolean).join(' · ') : 'none';
  $('detail-lines').replaceChildren(...(order.lines || []).map((l) => h('tr', null,
    h('td', null, String(l.product_id)), h('td', null, l.name), h('td', null, l.qty), h('td', null, l.price_unit),
    h('td', null, l.discount ? `${l.discount}%` : ''), h('td', null, l.note || ''))));
  $('detail-deliveries').replaceChildren(...(o.deliveries || []).map((d) => h('li', { 'data-session': d.session },
    statusBadge(d.status, d.session), h('span', { class: 'muted small' }, ` since ${fmtTime(d.updated_at)}`))));
  $('detail-history').replaceChildren(...(o.history || []).map((e) => h('li', { 'data-to': e.to, 'data-session': e.session },
    h('time', { title: e.at }, fmtTime(e.at)),
    `${e.session}: ${e.from || 'new'} → `, statusBadge(e.to), ` by ${e.by}`, e.reason ? ` (${e.reason})` : '')));
}

// ---- wiring ------------------------------------------------------------------------------

function selectTab(name) {
  for (const b of document.querySelectorAll('[role=tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
  for (const t of ['live', 'sessions', 'orders']) $('tab-' + t).hidden = t !== name;
  if (name === 'sessions') loadSessions();
  if (name === 'orders' && !state.orders.before) loadOrders(null);
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    signIn($('token').value.trim());
  });
  $('sign-out').addEventListener('click', () => signOut(''));
  for (const b of document.querySelectorAll('[role=tab]')) b.addEventListener('click', () => selectTab(b.dataset.tab));
  $('sessions-refresh').addEventListener('click', loadSessions);
  $('session-shop').addEventListener('input', () => debounce('sessions', loadSessions));
  $('session-form').addEventListener('submit', (e) => {
    e.preventDefault();
    createSession(e.target);
  });
  $('token-dismiss').addEventListener('click', () => {
    $('token-box').hidden = true;
    $('token-value').textContent = '';
  });
  $('order-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    state.orders.filters = Object.fromEntries([...f.entries()].map(([k, v]) => [k, String(v).trim()]));
    state.orders.newer = [];
    loadOrders(null);
  });
  $('page-older').addEventListener('click', () => {
    if (!state.orders.next) return;
    state.orders.newer.push(state.orders.before);
    loadOrders(state.orders.next);
  });
  $('page-newer').addEventListener('click', () => {
    if (!state.orders.newer.length) return;
    loadOrders(state.orders.newer.pop());
  });
  $('page-newest').addEventListener('click', () => {
    state.orders.newer = [];
    loadOrders(null);
  });
  $('detail-close').addEventListener('click', () => {
    $('detail').hidden = true;
    state.detailId = null;
  });
  $('detail').addEventListener('click', (e) => {
    if (e.target === $('detail')) $('detail-close').click();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('detail').hidden) $('detail-close').click();
  });

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) start(saved);
  else signOut('');
});
