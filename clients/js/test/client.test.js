// The JavaScript client against a real possync-broker (tests/support/broker.js):
// every message the broker sends, and every message the client sends, is
// validated against protocol/asyncapi.yaml (test/schema.js).
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startBroker, waitFor } from '../../../tests/support/broker.js';
import { PossyncClient, PossyncError, backoffDelay } from '../possync.js';
import { startProxy } from './proxy.js';
import { SchemaChecker, documentErrors, subscribeTypes, publishTypes } from './schema.js';

const checker = new SchemaChecker();
const CheckedWebSocket = checker.webSocketClass();
let broker;
let proxy;
const tokens = {};
const clients = [];

/** A Map-backed stand-in for localStorage. */
class MemoryStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.map.delete(k);
  }
}

function client(session, opts = {}) {
  const c = new PossyncClient({
    url: broker.wsUrl,
    session,
    token: tokens[session],
    WebSocket: CheckedWebSocket,
    storage: null,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    requestTimeoutMs: 5000,
    ...opts,
  });
  checker.watch(c);
  clients.push(c);
  return c;
}

/** Records a client's events of one type. */
function record(c, type) {
  const seen = [];
  c.on(type, (e) => seen.push(e));
  return seen;
}

const order = (note = 'no onions') => ({
  name: 'Order 00012-003-0004',
  table: 'T4',
  note,
  pricelist: { id: 1, name: 'Public Pricelist' },
  customer: { id: 88, name: 'Ana Souza', phone: '+55 11 5555-0100' },
  lines: [
    { product_id: 31, name: 'Margherita', qty: 2, price_unit: 9.5, discount: 10, note: 'extra basil' },
    { product_id: 'sku-77', name: 'Água com gás', qty: 1, price_unit: 2.0 },
  ],
});

let refCounter = 0;
const nextRef = (what) => `${what}-${process.pid}-${++refCounter}`;

before(async () => {
  broker = await startBroker();
  tokens['counter-1'] = await broker.addSession('counter-1', { name: 'Counter 1', sender: true });
  tokens['kitchen-1'] = await broker.addSession('kitchen-1', { name: 'Kitchen 1', receiver: true });
  tokens['kitchen-2'] = await broker.addSession('kitchen-2', { name: 'Kitchen 2', receiver: true });
  tokens['bar-1'] = await broker.addSession('bar-1', { name: 'Bar 1', sender: true, receiver: true });
  proxy = await startProxy(new URL(broker.wsUrl).port);
});

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  assert.deepEqual(checker.violations, [], 'every message matches protocol/asyncapi.yaml');
});

after(async () => {
  for (const c of clients.splice(0)) c.close();
  await proxy?.close();
  await broker?.stop();
});

describe('connection', () => {
  test('hello → welcome with the directory; connection states', async () => {
    const c = client('counter-1');
    const states = record(c, 'state');
    const welcome = await c.connect();
    assert.equal(welcome.session, 'counter-1');
    assert.equal(welcome.sender, true);
    assert.deepEqual(
      c.sessionList().map((s) => s.session).sort(),
      ['bar-1', 'counter-1', 'kitchen-1', 'kitchen-2'],
    );
    assert.deepEqual(states.map((s) => s.state), ['connecting', 'online']);
  });

  test('a wrong token ends in `unauthorized` and stops reconnecting', async () => {
    const c = client('counter-1', { token: 'wrong' });
    const states = record(c, 'state');
    await assert.rejects(c.connect(), (e) => e instanceof PossyncError && e.code === 'unauthorized');
    assert.equal(c.state, 'unauthorized');
    assert.deepEqual(states.map((s) => s.state), ['connecting', 'unauthorized']);
    assert.equal(states.at(-1).code, 4401);
    // Requests, and connect() again, now fail at once instead of waiting for a connection that will not come.
    await assert.rejects(c.ping(), (e) => e.code === 'unauthorized');
    await assert.rejects(c.connect(), (e) => e.code === 'unauthorized');
  });

  test('a rotated token closes with 4401: unauthorized, no reconnect', async () => {
    const c = client('bar-1');
    await c.connect();
    const r = await broker.api('POST', '/api/sessions/bar-1/token');
    tokens['bar-1'] = r.body.token;
    await waitFor(() => c.state === 'unauthorized', { what: 'state unauthorized' });
  });

  test('presence of other sessions updates the directory', async () => {
    const counter = client('counter-1');
    await counter.connect();
    const presence = record(counter, 'presence');
    const kitchen = client('kitchen-2');
    await kitchen.connect();
    await waitFor(() => counter.directory.get('kitchen-2').online, { what: 'kitchen-2 online' });
    kitchen.close();
    await waitFor(() => !counter.directory.get('kitchen-2').online, { what: 'kitchen-2 offline' });
    assert.deepEqual(presence.map((p) => [p.session, p.online]), [['kitchen-2', true], ['kitchen-2', false]]);
  });

  test('ping, sessions, and a request timeout', async () => {
    const c = client('counter-1', { url: proxy.url });
    await c.connect();
    assert.equal((await c.ping()).type, 'pong');
    const dir = await c.sessions();
    assert.ok(dir.some((s) => s.session === 'kitchen-1'));
    proxy.hold('down');
    await assert.rejects(c.request({ type: 'ping' }, { timeoutMs: 200 }), (e) => e.code === 'timeout');
    proxy.cut();
  });

  test('backoff grows exponentially with jitter, capped', () => {
    const o = { backoffInitialMs: 100, backoffMaxMs: 1000, backoffFactor: 2 };
    assert.equal(backoffDelay(0, o, () => 0), 50);
    assert.equal(backoffDelay(0, o, () => 1), 100);
    assert.equal(backoffDelay(3, o, () => 0), 400);
    assert.equal(backoffDelay(3, o, () => 1), 800);
    assert.equal(backoffDelay(20, o, () => 1), 1000);
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(4, o)));
    assert.ok(spread.size > 10, 'random delays differ between clients');
  });
});

describe('orders', () => {
  test('send → push → ack → deliver: the receiver gets the order exactly as sent', async () => {
    const counter = client('counter-1');
    const kitchen = client('kitchen-1');
    await Promise.all([counter.connect(), kitchen.connect()]);
    const statuses = record(counter, 'status');
    const pushes = record(kitchen, 'order');
    const ref = nextRef('basic');
    const sent = await counter.send(['kitchen-1'], order(), { ref });
    assert.equal(sent.duplicate, false);
    assert.deepEqual(sent.receivers, [{ session: 'kitchen-1', status: 'sent' }]);
    await waitFor(() => pushes.length === 1, { what: 'the push' });
    assert.equal(pushes[0].order_id, sent.order_id);
    assert.deepEqual(pushes[0].order, order());
    // autoAck moved it to received.
    await waitFor(() => statuses.some((s) => s.status === 'received'), { what: 'status received' });
    const inbox = await kitchen.list();
    assert.equal(inbox.find((o) => o.order_id === sent.order_id).status, 'received');
    const delivered = await kitchen.deliver(sent.order_id);
    assert.deepEqual(delivered.order, order());
    assert.equal((await kitchen.deliver(sent.order_id)).duplicate, true);
    await waitFor(() => statuses.some((s) => s.status === 'delivered'), { what: 'status delivered' });
    const outbox = await counter.list({ box: 'outbox' });
    assert.deepEqual(outbox.find((o) => o.order_id === sent.order_id).receivers.map((r) => r.status), ['delivered']);
    assert.equal(counter.pendingSends().length, 0);
  });

  test('reject with a reason, repeated: a duplicate', async () => {
    const counter = client('counter-1');
    const kitchen = client('kitchen-1');
    await Promise.all([counter.connect(), kitchen.connect()]);
    const statuses = record(counter, 'status');
    const sent = await counter.send(['kitchen-1'], order(), { ref: nextRef('reject') });
    const first = await kitchen.reject(sent.order_id, 'out of basil');
    assert.equal(first.duplicate, false);
    assert.equal((await kitchen.reject(sent.order_id, 'again')).duplicate, true);
    const change = await waitFor(() => statuses.find((s) => s.status === 'rejected'), { what: 'status rejected' });
    assert.equal(change.reason, 'out of basil');
  });

  test('cancel: the receiver hears it, and a later deliver is a conflict', async () => {
    const counter = client('counter-1');
    const kitchen = client('kitchen-1');
    await Promise.all([counter.connect(), kitchen.connect()]);
    const kitchenStatus = record(kitchen, 'status');
    const sent = await counter.send(['kitchen-1'], order(), { ref: nextRef('cancel') });
    const cancelled = await counter.cancel(sent.order_id);
    assert.deepEqual(cancelled.receivers, [{ session: 'kitchen-1', status: 'cancelled' }]);
    await waitFor(() => kitchenStatus.some((s) => s.order_id === sent.order_id && s.status === 'cancelled'), {
      what: 'kitchen told of the cancel',
    });
    await assert.rejects(kitchen.deliver(sent.order_id), (e) => e.code === 'conflict');
  });

  test('claim mode: the first deliver wins, the other receiver sees `taken`', async () => {
    const counter = client('counter-1');
    const k1 = client('kitchen-1');
    const k2 = client('kitchen-2');
    await Promise.all([counter.connect(), k1.connect(), k2.connect()]);
    const k2Status = record(k2, 'status');
    const sent = await counter.send(['kitchen-1', 'kitchen-2'], order(), { ref: nextRef('claim'), mode: 'claim' });
    await k1.deliver(sent.order_id);
    const taken = await waitFor(() => k2Status.find((s) => s.order_id === sent.order_id), { what: 'taken on kitchen-2' });
    assert.equal(taken.status, 'taken');
    assert.equal(taken.by, 'kitchen-1');
    await assert.rejects(k2.deliver(sent.order_id), (e) => e.code === 'conflict');
  });

  test('definitive errors end the send at once, with their code, and leave the outbox', async () => {
    const storage = new MemoryStorage();
    const counter = client('counter-1', { storage });
    const kitchen = client('kitchen-1', { storage: null });
    await Promise.all([counter.connect(), kitchen.connect()]);
    const frames = [];
    counter.on('message', (m) => frames.push(m));
    await assert.rejects(counter.send(['nobody-9'], order(), { ref: nextRef('nf') }), (e) => e.code === 'not_found');
    const bad = order();
    bad.lines[0].qty = 0;
    const badRef = nextRef('bad');
    await assert.rejects(counter.send(['kitchen-1'], bad, { ref: badRef }), (e) => {
      assert.equal(e.code, 'bad_request');
      assert.match(e.message, /lines\[0\]\.qty/);
      return true;
    });
    const caught = checker.take((v) => v.msg.ref === badRef);
    assert.equal(caught.length, 1, 'the schema refuses qty 0 too');
    assert.match(caught[0].errors, /lines\/0\/qty/);
    await assert.rejects(kitchen.send(['counter-1'], order(), { ref: nextRef('role') }), (e) => e.code === 'forbidden');
    assert.equal(frames.filter((m) => m.type === 'error').length, 2, 'each was tried once, not retried');
    assert.equal(counter.pendingSends().length, 0);
    assert.equal(storage.map.size, 0, 'nothing left in localStorage');
    await assert.rejects(kitchen.deliver(999999), (e) => e.code === 'not_found');
  });
});

describe('failures', () => {
  test('connection cut after the broker stored the order, before the reply: one order, `sent` after reconnect', async () => {
    const counter = client('counter-1', { url: proxy.url });
    const kitchen = client('kitchen-1');
    await Promise.all([counter.connect(), kitchen.connect()]);
    const pushes = record(kitchen, 'order');
    const states = record(counter, 'state');
    const ref = nextRef('cut-reply');
    proxy.hold('down');
    const sending = counter.send(['kitchen-1'], order(), { ref });
    await waitFor(async () => (await broker.orders({ ref })).length === 1, { what: 'the order in the store' });
    proxy.cut();
    const sent = await sending;
    assert.equal(sent.duplicate, true, 'the retry found the stored order');
    assert.equal((await broker.orders({ ref })).length, 1, 'exactly one order');
    assert.deepEqual(states.map((s) => s.state), ['offline', 'connecting', 'online']);
    await waitFor(() => pushes.some((p) => p.ref === ref), { what: 'the push' });
    assert.equal(pushes.filter((p) => p.ref === ref).length, 1, 'the receiver got it once');
  });

  test('connection cut before the send reached the broker: one order, `sent` after reconnect', async () => {
    const counter = client('counter-1', { url: proxy.url });
    await counter.connect();
    const ref = nextRef('cut-request');
    proxy.hold('up');
    const sending = counter.send(['kitchen-1'], order(), { ref });
    await waitFor(() => proxy.heldBytes.up > 0, { what: 'the send frame held by the proxy' });
    assert.equal((await broker.orders({ ref })).length, 0);
    proxy.cut();
    const sent = await sending;
    assert.equal(sent.duplicate, false);
    assert.equal((await broker.orders({ ref })).length, 1);
  });

  test('a send while offline waits in the outbox and goes out on reconnect', async () => {
    const storage = new MemoryStorage();
    const counter = client('counter-1', { url: proxy.url, storage });
    await counter.connect();
    proxy.hold('up');
    proxy.hold('down');
    const ref = nextRef('offline');
    const sending = counter.send(['kitchen-1'], order(), { ref });
    assert.equal(counter.pendingSends().length, 1);
    assert.equal(JSON.parse([...storage.map.values()][0])[0].ref, ref, 'kept in storage before it left');
    proxy.cut();
    await sending;
    assert.equal(counter.pendingSends().length, 0);
    assert.equal(storage.map.size, 0);
    assert.equal((await broker.orders({ ref })).length, 1);
  });

  test('a new client on the same storage (a reloaded page) resumes the outbox: no loss, no duplicate', async () => {
    const storage = new MemoryStorage();
    const first = client('counter-1', { url: proxy.url, storage });
    await first.connect();
    proxy.hold('down');
    const ref = nextRef('reload');
    first.send(['kitchen-1'], order(), { ref }).catch(() => {}); // the page goes away with its promise
    await waitFor(async () => (await broker.orders({ ref })).length === 1, { what: 'the order in the store' });
    first.close();
    proxy.cut();
    const second = client('counter-1', { storage });
    const sentEvents = record(second, 'sent');
    await second.connect();
    const done = await waitFor(() => sentEvents.find((e) => e.ref === ref), { what: 'the resumed send' });
    assert.equal(done.reply.duplicate, true);
    assert.equal((await broker.orders({ ref })).length, 1);
    assert.equal(storage.map.size, 0);
  });

  test('a connection gone silent (no pong) is dropped and replaced', async () => {
    // A broker with a short heartbeat, so the client pings every second.
    const fast = await startBroker({ args: ['--heartbeat-ms', '1000'] });
    const silent = await startProxy(new URL(fast.wsUrl).port);
    try {
      const token = await fast.addSession('counter-1', { sender: true });
      const c = client('counter-1', { url: silent.url, token });
      await c.connect();
      const states = record(c, 'state');
      silent.stall();
      await waitFor(() => states.some((s) => s.state === 'online'), { timeoutMs: 10000, what: 'a new connection' });
      assert.deepEqual(states.map((s) => s.state), ['offline', 'connecting', 'online']);
      assert.equal(silent.accepted, 2);
      assert.equal((await c.ping()).type, 'pong');
    } finally {
      await silent.close();
      await fast.stop();
    }
  });

  test('replayed pushes are de-duplicated by order_id', async () => {
    const counter = client('counter-1');
    const kitchen = client('kitchen-1', { url: proxy.url, autoAck: false });
    await Promise.all([counter.connect(), kitchen.connect()]);
    const raw = [];
    kitchen.on('message', (m) => m.type === 'order' && raw.push(m));
    const pushes = record(kitchen, 'order');
    const sent = await counter.send(['kitchen-1'], order(), { ref: nextRef('replay') });
    await waitFor(() => pushes.some((p) => p.order_id === sent.order_id), { what: 'the first push' });
    proxy.cut(); // not acked: the broker replays it after the next welcome
    await waitFor(() => raw.filter((m) => m.order_id === sent.order_id).length === 2, { what: 'the replay' });
    assert.equal(pushes.filter((p) => p.order_id === sent.order_id).length, 1);
    await kitchen.reject(sent.order_id, 'cleanup');
  });
});

test('asyncapi.yaml is a valid AsyncAPI 2.6 document', () => {
  assert.equal(documentErrors(), null);
});

test('every broker message type of asyncapi.yaml was seen and valid', () => {
  assert.deepEqual([...checker.seen.subscribe].sort(), [...subscribeTypes].sort());
  assert.deepEqual([...checker.seen.publish].sort(), [...publishTypes].sort());
});
