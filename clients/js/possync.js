// possync JavaScript client: the whole wire protocol (protocol/PROTOCOL.md)
// for POS front-ends, in browsers and in Node 20. No dependencies.
//
//   import { PossyncClient } from './possync.js';
//   const client = new PossyncClient({ url: 'ws://127.0.0.1:8080/ws', session: 'counter-1', token });
//   client.on('order', (push) => …);            // a new order for this terminal (de-duplicated)
//   client.on('status', (change) => …);         // a delivery of one of my orders changed
//   client.on('state', ({ state }) => …);       // connecting | online | offline | unauthorized | closed
//   await client.connect();
//   const sent = await client.send(['kitchen-1'], order, { ref: 'Order 0001' });
//
// What it guarantees:
// - It reconnects by itself after any cut, with jittered exponential backoff
//   (a hundred terminals never reconnect in lockstep), except after close code
//   4401 (bad or revoked credentials): then it stops in state `unauthorized`.
// - send() keeps the order in an outbox (localStorage when there is one) and
//   retries it with the same `ref` across reconnects until the broker answers
//   `sent`; the broker keeps exactly one order per (sender, ref), so a cut never
//   loses nor duplicates it. Definitive errors (bad_request, forbidden,
//   not_found, too_large, conflict, bad_json, internal) end the retries and
//   reject the promise with a PossyncError carrying that code. A new client
//   with the same storage and session (a reloaded page) resumes the outbox.
// - `order` pushes are de-duplicated by order_id (delivery is at-least-once),
//   and acknowledged (`ack`) unless `autoAck: false`.
//
// Types: see possync.d.ts beside this file.

/** Error codes after which a send is not retried: the request itself is wrong. */
export const DEFINITIVE_ERRORS = Object.freeze(['bad_json', 'bad_request', 'forbidden', 'not_found', 'too_large', 'conflict', 'internal']);

const CLOSE_UNAUTHORIZED = 4401;
// Codes this client closes with (browsers allow 1000 and 3000–4999).
const CLOSE_NORMAL = 1000;
const CLOSE_STALE = 4000;

const DEFAULTS = {
  client: 'possync-js/1',
  requestTimeoutMs: 10000,
  helloTimeoutMs: 10000,
  backoffInitialMs: 250,
  backoffMaxMs: 15000,
  backoffFactor: 2,
  autoAck: true,
  seenLimit: 5000,
};

/** An error reply from the broker, or a client-side failure (timeout, disconnected, closed, unauthorized). */
export class PossyncError extends Error {
  constructor(code, message, reply = null) {
    super(message ? `${code}: ${message}` : code);
    this.name = 'PossyncError';
    this.code = code;
    this.reply = reply;
  }
  /** True when retrying the same request cannot help. */
  get definitive() {
    return DEFINITIVE_ERRORS.includes(this.code) || this.code === 'unauthorized';
  }
}

/**
 * Delay before reconnect attempt `attempt` (0-based): "equal jitter", i.e. a
 * random point in the upper half of the exponential window, so no two clients
 * that lost the broker together come back together, and none comes back at once.
 */
export function backoffDelay(attempt, { backoffInitialMs, backoffMaxMs, backoffFactor }, random = Math.random) {
  const window = Math.min(backoffMaxMs, backoffInitialMs * backoffFactor ** attempt);
  return Math.round(window / 2 + random() * (window / 2));
}

function defaultStorage() {
  try {
    const s = globalThis.localStorage;
    if (!s) return null;
    const probe = '__possync_probe__';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return null; // private mode, sandboxed frame, Node
  }
}

function newRef(session) {
  const rand = Math.random().toString(36).slice(2, 10);
  return `${session}-${Date.now().toString(36)}-${rand}`;
}

/** Unsent orders kept under one storage key per session, so a reload can resume them. */
class Outbox {
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
    this.entries = new Map();
    if (!storage) return;
    try {
      const saved = JSON.parse(storage.getItem(key) || '[]');
      for (const e of saved) if (e && typeof e.ref === 'string') this.entries.set(e.ref, e);
    } catch {
      // A corrupt entry must not stop the terminal: start empty.
    }
  }
  put(entry) {
    this.entries.set(entry.ref, entry);
    this.save();
  }
  remove(ref) {
    if (this.entries.delete(ref)) this.save();
  }
  list() {
    return [...this.entries.values()];
  }
  save() {
    if (!this.storage) return;
    try {
      if (this.entries.size) this.storage.setItem(this.key, JSON.stringify(this.list()));
      else this.storage.removeItem(this.key);
    } catch {
      // Quota exceeded: the order is still retried while this page lives.
    }
  }
}

export class PossyncClient {
  /**
   * @param {import('./possync').ClientOptions} options
   */
  constructor(options) {
    const o = { ...DEFAULTS, ...options };
    if (!o.url || !o.session || typeof o.token !== 'string') throw new TypeError('url, session and token are required');
    this.options = o;
    this.WebSocket = o.WebSocket || globalThis.WebSocket;
    if (!this.WebSocket) throw new TypeError('no WebSocket: pass options.WebSocket (e.g. the ws package in Node)');
    this.random = o.random || Math.random;
    this.state = 'idle';
    /** The last welcome (own roles, shop, limits). */
    this.self = null;
    /** @type {Map<string, {session:string,name:string,sender:boolean,receiver:boolean,online:boolean}>} */
    this.directory = new Map();
    this.listeners = new Map();
    this.pending = new Map(); // request id → {resolve, reject, timer}
    this.nextId = 1;
    this.seen = new Set(); // order_ids already emitted
    this.sends = new Map(); // ref → {promise, wake}
    this.onlineWaiters = new Set();
    this.socket = null;
    this.attempt = 0;
    this.reconnectTimer = null;
    this.heartbeatTimer = null;
    this.lastFrameAt = 0;
    const storage = o.storage === undefined ? defaultStorage() : o.storage;
    this.outbox = new Outbox(storage, o.storageKey || `possync:outbox:${o.session}`);
  }

  // ---- events ---------------------------------------------------------------

  /** Subscribes to an event; returns a function that unsubscribes. */
  on(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(listener);
    return () => this.off(type, listener);
  }
  off(type, listener) {
    this.listeners.get(type)?.delete(listener);
  }
  emit(type, detail) {
    for (const listener of [...(this.listeners.get(type) || [])]) {
      try {
        listener(detail);
      } catch (e) {
        // A failing listener must not break the protocol loop.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  // ---- connection -----------------------------------------------------------

  /**
   * Opens the connection (and keeps it open). Resolves with the first
   * `welcome`; rejects with PossyncError('unauthorized') on bad credentials.
   * Orders left in the outbox by an earlier page are resumed.
   */
  connect() {
    if (this.state === 'idle' || this.state === 'closed') {
      this.stopped = false;
      this.open();
      for (const entry of this.outbox.list()) this.startSend(entry);
    }
    if (this.state === 'online') return Promise.resolve(this.self);
    if (this.state === 'unauthorized') return Promise.reject(new PossyncError('unauthorized', 'credentials refused'));
    return new Promise((resolve, reject) => {
      const offState = this.on('state', ({ state }) => {
        if (state === 'online') done(null);
        else if (state === 'unauthorized' || state === 'closed') done(new PossyncError(state, 'connection ended'));
      });
      const done = (err) => {
        offState();
        if (err) reject(err);
        else resolve(this.self);
      };
    });
  }

  /** Closes for good (no reconnect). Pending requests fail with `closed`; unsent orders stay in the outbox. */
  close() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    this.dropSocket(CLOSE_NORMAL, 'client closed');
    this.setState('closed');
    this.failPending('closed');
    for (const w of this.onlineWaiters) w(false);
    this.onlineWaiters.clear();
    for (const s of this.sends.values()) s.wake();
  }

  setState(state, extra = {}) {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    this.emit('state', { state, previous, ...extra });
    if (state === 'online') {
      for (const w of this.onlineWaiters) w(true);
      this.onlineWaiters.clear();
    }
  }

  open() {
    this.setState('connecting');
    let socket;
    try {
      socket = new this.WebSocket(this.options.url);
    } catch (e) {
      this.onSocketGone(null, 1006, String(e?.message || e));
      return;
    }
    this.socket = socket;
    const helloTimer = setTimeout(() => {
      if (this.socket === socket) this.dropSocket(CLOSE_STALE, 'no welcome in time', true);
    }, this.options.helloTimeoutMs);
    socket.onopen = () => {
      this.lastFrameAt = Date.now();
      const id = this.allocId();
      this.pending.set(id, {
        resolve: (welcome) => {
          clearTimeout(helloTimer);
          this.onWelcome(welcome);
        },
        reject: (err) => {
          clearTimeout(helloTimer);
          // `unauthorized` is followed by close 4401; anything else: retry.
          if (err.code !== 'unauthorized') this.dropSocket(CLOSE_STALE, err.message, true);
        },
        timer: null,
      });
      this.write({ type: 'hello', id, session: this.options.session, token: this.options.token, client: this.options.client });
    };
    socket.onmessage = (event) => this.onFrame(event.data);
    socket.onerror = () => {}; // a close event follows
    socket.onclose = (event) => {
      clearTimeout(helloTimer);
      this.onSocketGone(socket, event.code, event.reason);
    };
  }

  // Forgets the current socket at once (a dead TCP connection may take long
  // to report its close) and, when `reconnect`, schedules the next attempt.
  dropSocket(code, reason, reconnect = false) {
    const socket = this.socket;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.onerror = () => {};
    try {
      socket.close(code, reason);
    } catch {
      // already closing
    }
    if (reconnect) this.onSocketGone(socket, 1006, reason);
    else this.socket = null;
  }

  onSocketGone(socket, code, reason) {
    if (socket && socket !== this.socket) return;
    this.socket = null;
    clearInterval(this.heartbeatTimer);
    this.failPending('disconnected');
    for (const s of this.sends.values()) s.wake();
    if (this.stopped) return;
    if (code === CLOSE_UNAUTHORIZED) {
      this.stopped = true;
      this.setState('unauthorized', { code, reason });
      for (const w of this.onlineWaiters) w(false);
      this.onlineWaiters.clear();
      return;
    }
    const delay = backoffDelay(this.attempt++, this.options, this.random);
    this.setState('offline', { code, reason, retryInMs: delay });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (!this.stopped) this.open();
    }, delay);
  }

  onWelcome(welcome) {
    this.attempt = 0;
    this.self = welcome;
    this.directory = new Map(welcome.sessions.map((s) => [s.session, { ...s }]));
    this.startHeartbeat(welcome.heartbeat_ms);
    this.setState('online');
    this.emit('welcome', welcome);
    this.emit('directory', this.sessionList());
  }

  // Browsers cannot send WebSocket pings: an application ping when the line
  // has been quiet for a heartbeat keeps the broker from dropping us and
  // finds a dead connection (no pong) that TCP alone would not report.
  startHeartbeat(heartbeatMs) {
    clearInterval(this.heartbeatTimer);
    const period = Math.max(1000, Math.floor((heartbeatMs || 15000) / 2));
    this.heartbeatTimer = setInterval(() => {
      if (this.state !== 'online' || Date.now() - this.lastFrameAt < period) return;
      this.request({ type: 'ping' }, { timeoutMs: period }).catch((err) => {
        if (err.code === 'timeout') this.dropSocket(CLOSE_STALE, 'no pong', true);
      });
    }, period);
  }

  // ---- frames -----------------------------------------------------------------

  allocId() {
    return `r${this.nextId++}`;
  }

  write(message) {
    if (!this.socket || this.socket.readyState !== 1) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  onFrame(data) {
    this.lastFrameAt = Date.now();
    let msg;
    try {
      msg = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      return;
    }
    this.emit('message', msg);
    if (msg.id !== undefined && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === 'error') p.reject(new PossyncError(msg.code, msg.message, msg));
      else p.resolve(msg);
      return;
    }
    switch (msg.type) {
      case 'order':
        return this.onOrder(msg);
      case 'status':
        return this.emit('status', msg);
      case 'presence': {
        const entry = this.directory.get(msg.session);
        if (entry) entry.online = msg.online;
        this.emit('presence', msg);
        return this.emit('directory', this.sessionList());
      }
      case 'error':
        return this.emit('error', new PossyncError(msg.code, msg.message, msg));
      default:
        return undefined; // a reply that came after its timeout
    }
  }

  onOrder(push) {
    if (this.options.autoAck && push.status === 'sent') this.write({ type: 'ack', order_id: push.order_id });
    if (this.seen.has(push.order_id)) return;
    this.seen.add(push.order_id);
    if (this.seen.size > this.options.seenLimit) this.seen.delete(this.seen.values().next().value);
    this.emit('order', push);
  }

  failPending(code) {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new PossyncError(code, 'connection lost before the reply'));
    }
  }

  // Resolves true once online, false when the client stops or `ms` pass.
  waitOnline(ms) {
    if (this.state === 'online') return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = ms === undefined ? null : setTimeout(() => finish(false), ms);
      const finish = (ok) => {
        clearTimeout(timer);
        this.onlineWaiters.delete(finish);
        resolve(ok);
      };
      this.onlineWaiters.add(finish);
    });
  }

  // ---- requests ---------------------------------------------------------------

  /**
   * Sends one request and resolves with its reply (rejects with a
   * PossyncError for an `error` reply). Waits for the connection when it is
   * down. With `retry`, a request cut by a disconnection is sent again after
   * the reconnect (only for idempotent requests), all within `timeoutMs`.
   */
  async request(message, { timeoutMs = this.options.requestTimeoutMs, retry = false } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.waitOnline(left))) {
        throw new PossyncError(this.stopped ? this.state : 'timeout', `no reply to ${message.type} in ${timeoutMs} ms`);
      }
      try {
        return await this.requestOnce(message, deadline - Date.now());
      } catch (err) {
        if (!(retry && err.code === 'disconnected')) throw err;
      }
    }
  }

  requestOnce(message, timeoutMs) {
    return new Promise((resolve, reject) => {
      const id = this.allocId();
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PossyncError('timeout', `no reply to ${message.type} in time`));
      }, Math.max(1, timeoutMs));
      this.pending.set(id, { resolve, reject, timer });
      if (!this.write({ ...message, id })) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new PossyncError('disconnected', 'not connected'));
      }
    });
  }

  /**
   * Sends an order to receivers. Resolves with the `sent` reply once the
   * broker stored it (`duplicate` is true when an earlier attempt already
   * had). Retries across reconnects with the same ref; rejects only on a
   * definitive error or close().
   * @param {string[]} to receiver session ids
   * @param {object} order the POS order (lines, customer, note, …)
   * @param {{ref?: string, mode?: 'copy'|'claim'}} [opts]
   */
  send(to, order, opts = {}) {
    const ref = opts.ref || newRef(this.options.session);
    const existing = this.sends.get(ref);
    if (existing) return existing.promise;
    const entry = { ref, to: [...to], mode: opts.mode || 'copy', order, queued_at: new Date().toISOString() };
    // Stored before the first byte leaves, so a reload cannot lose it.
    this.outbox.put(entry);
    this.emit('outbox', this.outbox.list());
    return this.startSend(entry);
  }

  /** Orders handed to send() and not yet acknowledged by the broker. */
  pendingSends() {
    return this.outbox.list();
  }

  startSend(entry) {
    const existing = this.sends.get(entry.ref);
    if (existing) return existing.promise;
    const slot = { wake: () => {} };
    const settle = (keep) => {
      this.sends.delete(entry.ref);
      // Stopping the client (close, unauthorized) keeps the order for the
      // next client on this storage; an answer from the broker ends it.
      if (!keep) this.outbox.remove(entry.ref);
      this.emit('outbox', this.outbox.list());
    };
    slot.promise = this.sendLoop(entry, slot).then(
      (reply) => {
        settle(false);
        return reply;
      },
      (error) => {
        settle(!DEFINITIVE_ERRORS.includes(error.code));
        throw error;
      },
    );
    this.sends.set(entry.ref, slot);
    // A resumed send has no caller to hear about its fate: events tell it.
    slot.promise.then(
      (reply) => this.emit('sent', { ref: entry.ref, reply, entry }),
      (error) => this.emit('send-failed', { ref: entry.ref, error, entry }),
    );
    return slot.promise;
  }

  async sendLoop(entry, slot) {
    const message = { type: 'send', ref: entry.ref, to: entry.to, mode: entry.mode, order: entry.order };
    let failures = 0;
    for (;;) {
      if (!(await this.waitOnline())) throw new PossyncError(this.state, 'client stopped before the order was sent');
      try {
        return await this.requestOnce(message, this.options.requestTimeoutMs);
      } catch (err) {
        if (err.definitive) throw err;
        // timeout, disconnected, unavailable, rate_limited: the outcome is
        // unknown or transient; the same ref makes the next attempt safe.
        if (err.code === 'disconnected') continue; // the reconnect has its own backoff
        const delay = backoffDelay(failures++, this.options, this.random);
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, delay);
          slot.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  /** Acknowledges a push (`sent → received`); done automatically unless autoAck is false. */
  ack(orderId) {
    return this.write({ type: 'ack', order_id: orderId });
  }

  /** Lists orders: `inbox` (default: sent and received = "Receive Order") or `outbox`. */
  async list({ box = 'inbox', status, limit, before } = {}) {
    const msg = { type: 'list', box };
    if (status) msg.status = status;
    if (limit) msg.limit = limit;
    if (before) msg.before = before;
    return (await this.request(msg, { retry: true })).orders;
  }

  /** Loads an order into this terminal's cart: resolves with the `delivered` reply (its `order`). */
  deliver(orderId) {
    return this.request({ type: 'deliver', order_id: orderId }, { retry: true });
  }

  reject(orderId, reason = null) {
    return this.request({ type: 'reject', order_id: orderId, reason }, { retry: true });
  }

  cancel(orderId) {
    return this.request({ type: 'cancel', order_id: orderId });
  }

  /** Refreshes the directory from the broker. */
  async sessions() {
    const reply = await this.request({ type: 'sessions' }, { retry: true });
    this.directory = new Map(reply.sessions.map((s) => [s.session, { ...s }]));
    this.emit('directory', this.sessionList());
    return this.sessionList();
  }

  ping() {
    return this.request({ type: 'ping' });
  }

  /** The shop's sessions with their online state (from welcome, kept current by presence). */
  sessionList() {
    return [...this.directory.values()].map((s) => ({ ...s }));
  }
}
