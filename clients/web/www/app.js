// The POS terminal page (served by the broker at /pos): sign-in, connection
// indicator, product grid and cart, Send Order, Receive Order and the sent
// orders, on top of the possync JavaScript client (possync.js, the same file
// as clients/js/possync.js). The credentials stay in this tab's
// sessionStorage, so a reload signs in again (and the client resumes the
// orders still in its outbox, kept in localStorage per session) while two
// tabs of one browser can be two terminals.
import { PossyncClient } from './possync.js';
import { $, h } from './dom.js';
import { Cart } from './cart.js';
import { Inbox, SentOrders } from './orders.js';

const LOGIN_KEY = 'possync:pos:login';

/** Every error the broker (or the connection) can give, in words a cashier can act on. */
export function errorText(err) {
  const detail = err?.reply?.message || '';
  switch (err?.code) {
    case 'bad_json':
    case 'bad_request':
      return `the broker refused the request (${detail || 'invalid field'}).`;
    case 'unauthorized':
      return 'this terminal is not signed in: its session id or token was refused. Sign in again.';
    case 'forbidden':
      return `this terminal is not allowed to do that (${detail || 'missing role'}).`;
    case 'not_found':
      return `not found: ${detail || 'no such order or session'}.`;
    case 'conflict': {
      // "order 42 is cancelled", "every delivery of order 42 is final"
      const status = /\bis (\w+)$/.exec(detail)?.[1];
      return status ? `the order is already ${status}.` : `the order can no longer change (${detail}).`;
    }
    case 'too_large':
      return `too large: ${detail}.`;
    case 'rate_limited':
      return 'too many requests from this terminal; try again in a moment.';
    case 'unavailable':
      return 'the broker cannot store orders right now; try again in a moment.';
    case 'internal':
      return `the broker failed (${detail || 'internal error'}); tell your administrator.`;
    case 'timeout':
      return 'the broker did not answer in time; check the connection.';
    case 'disconnected':
      return 'the connection was lost before the broker answered; try again.';
    case 'closed':
      return 'this terminal was signed out.';
    default:
      return err?.message || String(err);
  }
}

const CONNECTION_TEXT = {
  idle: 'Signed out',
  connecting: 'Connecting…',
  online: 'Online',
  offline: 'Offline — reconnecting',
  unauthorized: 'Signed out: token refused',
  closed: 'Signed out',
};

class PosPage {
  constructor() {
    this.client = null;
    $('login-form').onsubmit = (e) => {
      e.preventDefault();
      const session = $('login-session').value.trim();
      const token = $('login-token').value.trim();
      sessionStorage.setItem(LOGIN_KEY, JSON.stringify({ session, token }));
      this.start(session, token);
    };
    $('sign-out').onclick = () => this.signOut();
    $('open-inbox').onclick = () => this.openInbox();
    $('inbox-close').onclick = () => $('inbox-dialog').close();
    $('open-send').onclick = () => this.openSend();
    $('send-cancel').onclick = () => $('send-dialog').close();
    $('send-form').onsubmit = (e) => {
      e.preventDefault();
      this.confirmSend();
    };
    const saved = JSON.parse(sessionStorage.getItem(LOGIN_KEY) || 'null');
    if (saved?.session && saved?.token) this.start(saved.session, saved.token);
    else this.showLogin();
  }

  nameOf(session) {
    return this.client?.directory.get(session)?.name || session;
  }

  errorText(err) {
    return errorText(err);
  }

  // ---- session -----------------------------------------------------------------

  start(session, token) {
    this.client?.close();
    $('login-error').hidden = true;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    const client = new PossyncClient({ url, session, token, client: 'possync-pos-web/1' });
    this.client = client;
    this.cart = new Cart(session);
    this.inbox = new Inbox(this);
    this.sentOrders = new SentOrders(this);
    client.on('state', (e) => this.showConnection(e));
    client.on('welcome', (w) => this.onWelcome(w));
    client.on('order', (push) => this.inbox.onPush(push));
    client.on('status', (change) => {
      // A receiver hears of its own deliveries; a sender of its orders' (a
      // session with both roles may hear of either).
      if (client.self?.receiver) this.inbox.onStatus(change);
      if (client.self?.sender) this.sentOrders.onStatus(change);
    });
    client.on('directory', () => this.renderReceivers());
    client.on('sent', ({ reply, entry }) => this.sentOrders.sent(reply, entry.order));
    client.on('send-failed', ({ ref, error, entry }) => this.sentOrders.failed(ref, entry.order, error));
    client.on('error', (err) => this.toast(`Broker error: ${errorText(err)}`, 'error'));
    $('terminal').textContent = session;
    $('login').hidden = true;
    $('app').hidden = false;
    $('sign-out').hidden = false;
    client.connect().catch((err) => {
      if (client !== this.client) return;
      sessionStorage.removeItem(LOGIN_KEY);
      this.showLogin(`Sign-in failed: ${errorText(err)}`);
    });
  }

  async onWelcome(welcome) {
    $('terminal').textContent = `${welcome.name} (${welcome.session})`;
    $('open-inbox').hidden = !welcome.receiver;
    $('open-send').hidden = !welcome.sender;
    $('sent-panel').hidden = !welcome.sender;
    try {
      await Promise.all([welcome.receiver ? this.inbox.refresh() : null, welcome.sender ? this.sentOrders.refresh() : null]);
    } catch (err) {
      this.toast(`Could not load the orders: ${errorText(err)}`, 'error');
    }
  }

  signOut() {
    this.client?.close();
    this.client = null;
    sessionStorage.removeItem(LOGIN_KEY);
    this.showLogin();
  }

  showLogin(message) {
    for (const d of document.querySelectorAll('dialog[open]')) d.close();
    $('login').hidden = false;
    $('app').hidden = true;
    $('sign-out').hidden = true;
    $('open-inbox').hidden = true;
    $('terminal').textContent = '';
    this.showConnection({ state: 'idle' });
    $('login-error').hidden = !message;
    $('login-error').textContent = message || '';
    const saved = JSON.parse(sessionStorage.getItem(LOGIN_KEY) || 'null');
    if (saved?.session) $('login-session').value = saved.session;
  }

  showConnection({ state, retryInMs }) {
    const conn = $('conn');
    conn.dataset.state = state;
    let text = CONNECTION_TEXT[state] || state;
    if (state === 'offline' && retryInMs !== undefined) text = `Offline — retrying in ${Math.max(1, Math.round(retryInMs / 1000))} s`;
    $('conn-text').textContent = text;
  }

  // ---- send ----------------------------------------------------------------------

  renderReceivers() {
    if (!this.client || !$('send-dialog').open) return;
    const self = this.client.self?.session;
    const checked = new Set([...document.querySelectorAll('#receiver-list input:checked')].map((i) => i.value));
    const receivers = this.client.sessionList().filter((s) => s.receiver && s.session !== self);
    $('receiver-list').replaceChildren(
      ...(receivers.length
        ? receivers.map((s) =>
            h(
              'li',
              {},
              h(
                'label',
                { class: 'choice receiver', dataset: { session: s.session, online: String(s.online) } },
                h('input', { type: 'checkbox', name: 'to', value: s.session, checked: checked.has(s.session), dataset: { testid: `to-${s.session}` } }),
                h('span', { class: 'rname' }, s.name, h('small', { class: 'muted' }, ` ${s.session}`)),
                h('span', { class: `presence ${s.online ? 'on' : 'off'}` }, s.online ? 'online' : 'offline'),
              ),
            ),
          )
        : [h('li', { class: 'empty' }, 'No receiver terminals in this shop.')]),
    );
  }

  openSend() {
    const problem = this.cart.problem();
    if (problem) return this.toast(problem, 'error');
    $('send-error').hidden = true;
    $('send-dialog').showModal();
    this.renderReceivers();
  }

  confirmSend() {
    const to = [...document.querySelectorAll('#receiver-list input:checked')].map((i) => i.value);
    if (!to.length) {
      $('send-error').textContent = 'Choose at least one receiver.';
      $('send-error').hidden = false;
      return;
    }
    const mode = document.querySelector('input[name=mode]:checked').value;
    const order = this.cart.toOrder();
    const ref = this.cart.state.ref;
    const saved = structuredClone(this.cart.state);
    $('send-dialog').close();
    // The client keeps the order in its outbox until the broker stored it, so
    // the cart is free for the next customer at once.
    this.sentOrders.sending(ref, to, order);
    this.cart.reset();
    this.client.send(to, order, { ref, mode }).then(
      (reply) => this.toast(`Order #${reply.order_id} sent to ${to.map((s) => this.nameOf(s)).join(', ')}`, 'ok'),
      (err) => {
        this.toast(`The order was not sent: ${errorText(err)}`, 'error');
        if (this.cart.isEmpty) this.cart.update(saved); // let the cashier fix it
      },
    );
  }

  // ---- receive -------------------------------------------------------------------

  openInbox() {
    this.inbox.render();
    $('inbox-dialog').showModal();
  }

  onDelivered(entry, order) {
    $('inbox-dialog').close();
    this.cart.load(order, `${this.nameOf(entry.from)} (order #${entry.order_id})`);
    this.toast(`Order #${entry.order_id} is in the cart`, 'ok');
  }

  /** Resolves with the reason typed, or null when the cashier went back. */
  askReason(entry) {
    const dialog = $('reject-dialog');
    $('reject-which').textContent = `#${entry.order_id}`;
    $('reject-reason').value = '';
    return new Promise((resolve) => {
      $('reject-back').onclick = () => dialog.close('back');
      $('reject-form').onsubmit = (e) => {
        e.preventDefault();
        dialog.close('reject');
      };
      dialog.onclose = () => resolve(dialog.returnValue === 'reject' ? $('reject-reason').value.trim() : null);
      dialog.returnValue = '';
      dialog.showModal();
    });
  }

  // ---- messages ------------------------------------------------------------------

  toast(text, kind = 'info') {
    const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { kind } }, text);
    el.onclick = () => el.remove();
    const box = $('toasts');
    box.append(el);
    // A popover re-shown lands on top of the top layer: above an open modal dialog.
    if (box.showPopover) {
      if (box.matches(':popover-open')) box.hidePopover();
      box.showPopover();
    }
    setTimeout(() => el.remove(), kind === 'error' ? 10000 : 4000);
  }
}

export const page = new PosPage();
globalThis.posPage = page; // for the browser tests and the console
