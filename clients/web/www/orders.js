// The two order lists of the POS page: the Receive Order inbox (with Deliver
// and Reject) and the orders this terminal sent (with a live status badge
// per receiver). Both are rebuilt from the broker (`list`) after every
// welcome and kept current by pushes, so a reconnect or reload shows the truth.
import { $, h, orderSummary, timeText } from './dom.js';

const lineCount = (order) => {
  const n = order.lines?.length || 0;
  return `${n} line${n === 1 ? '' : 's'}`;
};
const FINAL = new Set(['delivered', 'rejected', 'cancelled', 'taken']);
// How far a delivery got; statuses only move forward, so of two reports of
// one delivery (a push and a list reply, in any order) the further one wins.
const rank = (status) => (FINAL.has(status) ? 3 : { pending: 0, sent: 1, received: 2 }[status] ?? 0);
function furthest(a = [], b = []) {
  const out = new Map(a.map((r) => [r.session, r]));
  for (const r of b) if (!out.has(r.session) || rank(r.status) > rank(out.get(r.session).status)) out.set(r.session, r);
  return [...out.values()];
}
const ACTIONABLE = new Set(['sent', 'received']);

export class Inbox {
  /** @param {object} app the page: client, nameOf(), toast(), errorText(), onDelivered(), askReason() */
  constructor(app) {
    this.app = app;
    this.entries = new Map(); // order_id → entry
    this.seq = 0; // bumped by every push, so a refresh keeps what arrived during it
  }

  async refresh() {
    const since = this.seq;
    const orders = await this.app.client.list({ box: 'inbox' });
    const fresh = new Map(orders.map((o) => [o.order_id, o]));
    // Pushes that overtook the list reply, and entries that ended meanwhile
    // (taken, cancelled: visible until dismissed) stay.
    for (const [id, e] of this.entries) if (!fresh.has(id) && (e.seq > since || FINAL.has(e.status))) fresh.set(id, e);
    this.entries = fresh;
    this.render();
  }

  onPush(push) {
    this.entries.set(push.order_id, { ...push, status: push.status === 'sent' ? 'received' : push.status, seq: ++this.seq });
    this.render();
    this.app.toast(`New order from ${this.app.nameOf(push.from)}`, 'info');
  }

  /** A change of my delivery made elsewhere: taken by another receiver, cancelled, or done on another connection. */
  onStatus(change) {
    const e = this.entries.get(change.order_id);
    if (!e || change.session !== this.app.client.self?.session) return;
    e.status = change.status;
    e.by = change.by;
    if (change.status === 'delivered' || change.status === 'rejected') this.entries.delete(change.order_id);
    this.render();
  }

  get actionableCount() {
    return [...this.entries.values()].filter((e) => ACTIONABLE.has(e.status)).length;
  }

  async deliver(entry, button) {
    button.disabled = true;
    try {
      const reply = await this.app.client.deliver(entry.order_id);
      this.entries.delete(entry.order_id);
      this.render();
      this.app.onDelivered(entry, reply.order);
    } catch (err) {
      this.app.toast(`Order #${entry.order_id} could not be delivered: ${this.app.errorText(err)}`, 'error');
      if (err.code === 'conflict') await this.refresh().catch(() => {});
      button.disabled = false;
    }
  }

  async reject(entry) {
    const reason = await this.app.askReason(entry);
    if (reason === null) return;
    try {
      await this.app.client.reject(entry.order_id, reason || null);
      this.entries.delete(entry.order_id);
      this.render();
      this.app.toast(`Order #${entry.order_id} rejected`, 'info');
    } catch (err) {
      this.app.toast(`Order #${entry.order_id} could not be rejected: ${this.app.errorText(err)}`, 'error');
    }
  }

  render() {
    const list = [...this.entries.values()].sort((a, b) => b.order_id - a.order_id);
    $('inbox-list').replaceChildren(...list.map((e) => this.item(e)));
    $('inbox-empty').hidden = list.length > 0;
    const n = this.actionableCount;
    $('inbox-count').textContent = String(n);
    $('inbox-count').dataset.n = String(n);
  }

  item(e) {
    const open = ACTIONABLE.has(e.status);
    const deliver = h('button', { type: 'button', class: 'primary', dataset: { testid: 'deliver' }, disabled: !open }, 'Deliver');
    deliver.onclick = () => this.deliver(e, deliver);
    const statusText = e.status === 'taken' ? `taken by ${this.app.nameOf(e.by)}` : e.status;
    return h(
      'li',
      { class: `inbox-item status-${e.status}`, dataset: { orderId: String(e.order_id), status: e.status, testid: 'inbox-item' } },
      h(
        'div',
        { class: 'item-head' },
        h('b', { class: 'from' }, this.app.nameOf(e.from)),
        h('span', { class: 'muted' }, ` #${e.order_id} · ${timeText(e.created_at)}`),
        e.mode === 'claim' ? h('span', { class: 'badge mode' }, 'claim') : null,
        h('span', { class: `badge status-${e.status}`, dataset: { testid: 'inbox-status' } }, statusText),
      ),
      orderSummary(e.order),
      h(
        'div',
        { class: 'actions' },
        open
          ? [deliver, h('button', { type: 'button', class: 'danger', dataset: { testid: 'reject' }, onclick: () => this.reject(e) }, 'Reject')]
          : h('button', { type: 'button', class: 'ghost', onclick: () => { this.entries.delete(e.order_id); this.render(); } }, 'Dismiss'),
      ),
    );
  }
}

export class SentOrders {
  constructor(app) {
    this.app = app;
    this.entries = new Map(); // ref → {ref, order_id, created_at, receivers, order, state, error}
    this.refreshing = null;
    this.seq = 0; // bumped by every local change, so a refresh keeps what happened during it
  }

  async refresh() {
    const since = this.seq;
    const orders = await this.app.client.list({ box: 'outbox', limit: 30 });
    const fresh = new Map();
    // Pending or failed here, or changed while the list was on its way.
    for (const e of this.entries.values()) if (e.state !== 'sent' || e.seq > since) fresh.set(e.ref, e);
    for (const o of orders) {
      const local = fresh.get(o.ref);
      fresh.set(o.ref, { ...local, ...o, state: 'sent', receivers: furthest(o.receivers, local?.receivers) });
    }
    for (const p of this.app.client.pendingSends()) {
      if (!fresh.has(p.ref)) fresh.set(p.ref, { ref: p.ref, order: p.order, created_at: p.queued_at, receivers: p.to.map((session) => ({ session, status: 'pending' })), state: 'pending' });
    }
    this.entries = fresh;
    this.render();
  }

  /** Refreshes once for a burst of unknown orders (e.g. sent from another tab). */
  refreshSoon() {
    this.refreshing ??= this.refresh().catch(() => {}).finally(() => (this.refreshing = null));
  }

  sending(ref, to, order) {
    this.entries.set(ref, { ref, order, created_at: new Date().toISOString(), receivers: to.map((session) => ({ session, status: 'pending' })), state: 'pending', seq: ++this.seq });
    this.render();
  }

  sent(reply, order) {
    const e = this.entries.get(reply.ref) || { ref: reply.ref, order };
    Object.assign(e, { order_id: reply.order_id, created_at: reply.created_at, state: 'sent', seq: ++this.seq });
    // A status push or a list reply may have overtaken this reply.
    e.receivers = furthest(reply.receivers, e.receivers);
    this.entries.set(reply.ref, e);
    this.render();
  }

  failed(ref, order, error) {
    const e = this.entries.get(ref) || { ref, order, created_at: new Date().toISOString(), receivers: [] };
    Object.assign(e, { state: 'failed', error: this.app.errorText(error), seq: ++this.seq });
    this.entries.set(ref, e);
    this.render();
  }

  onStatus(change) {
    const e = [...this.entries.values()].find((x) => x.order_id === change.order_id);
    if (!e) return this.refreshSoon();
    e.seq = ++this.seq;
    e.receivers = furthest(e.receivers, [{ session: change.session, status: change.status }]);
    if (change.reason) e.reasons = { ...e.reasons, [change.session]: change.reason };
    this.render();
  }

  async cancel(e, button) {
    button.disabled = true;
    try {
      const reply = await this.app.client.cancel(e.order_id);
      for (const r of reply.receivers) this.onStatus({ order_id: e.order_id, session: r.session, status: r.status });
      this.app.toast(`Order #${e.order_id} cancelled`, 'info');
    } catch (err) {
      this.app.toast(`Order #${e.order_id} could not be cancelled: ${this.app.errorText(err)}`, 'error');
      button.disabled = false;
    }
  }

  render() {
    const list = [...this.entries.values()].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    $('sent-list').replaceChildren(...list.map((e) => this.item(e)));
    $('sent-empty').hidden = list.length > 0;
  }

  item(e) {
    const badges = e.receivers.map((r) => {
      const reason = e.reasons?.[r.session];
      const text = r.status === 'pending' ? 'sending…' : r.status;
      return h(
        'span',
        { class: `badge status-${r.status}`, dataset: { session: r.session, status: r.status, testid: 'receiver-status' }, title: reason || '' },
        `${this.app.nameOf(r.session)}: ${text}`,
        reason ? h('small', {}, ` (${reason})`) : null,
      );
    });
    const cancellable = e.state === 'sent' && e.receivers.some((r) => !FINAL.has(r.status));
    const cancel = h('button', { type: 'button', class: 'ghost small', dataset: { testid: 'cancel-order' } }, 'Cancel order');
    cancel.onclick = () => this.cancel(e, cancel);
    return h(
      'li',
      { class: `sent-item state-${e.state}`, dataset: { ref: e.ref, orderId: e.order_id ? String(e.order_id) : '', state: e.state, testid: 'sent-item' } },
      h(
        'div',
        { class: 'item-head' },
        h('b', {}, e.order_id ? `#${e.order_id}` : 'not yet stored'),
        h('span', { class: 'muted' }, ` ${timeText(e.created_at)} · ${e.ref}`),
      ),
      h('div', { class: 'badges' }, badges),
      e.state === 'failed' ? h('p', { class: 'error', dataset: { testid: 'sent-error' } }, e.error) : null,
      h('details', {}, h('summary', {}, lineCount(e.order)), orderSummary(e.order)),
      cancellable ? h('div', { class: 'actions' }, cancel) : null,
    );
  }
}
