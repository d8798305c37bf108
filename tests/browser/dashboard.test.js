// The ops dashboard in headless Debian chromium (playwright-core), against a
// real broker binary. Run: POSSYNC_BROKER_BIN=build/broker/possync-broker
// node --test tests/browser. Screenshots go to artifacts/browser/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PosClient, WAIT_MS, sampleOrder, launchChromium, startBroker } from './support.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const brokerBin = process.env.POSSYNC_BROKER_BIN || path.join(root, 'build/broker/possync-broker');
const artifacts = process.env.POSSYNC_ARTIFACTS || path.join(root, 'artifacts/browser');
const ADMIN = 'browser-test-admin-token-0123456789';

let broker, browser, page, counter, kitchen, bar;
const tokens = {};
const state = {};  // shared by the tests below, which run in order

async function shot(name) {
  await page.screenshot({ path: path.join(artifacts, name), fullPage: true });
}

// The trimmed text of the first element matching `selector`.
const text = (selector) => page.locator(selector).first().innerText().then((s) => s.trim());

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  broker = await startBroker(brokerBin, ADMIN);
  tokens.counter = await broker.addSession('counter-1', { sender: true });
  tokens.kitchen = await broker.addSession('kitchen-1', { receiver: true });
  tokens.bar = await broker.addSession('bar-1', { receiver: true });
  kitchen = await PosClient.connect(broker.base, 'kitchen-1', tokens.kitchen);
  bar = await PosClient.connect(broker.base, 'bar-1', tokens.bar);
  counter = await PosClient.connect(broker.base, 'counter-1', tokens.counter);
  browser = await launchChromium();
  // A laptop-sized window; the layout also reflows for tablets.
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(WAIT_MS);
  page.on('dialog', (d) => d.accept());  // confirm() of rotate and delete
});

after(async () => {
  for (const c of [counter, kitchen, bar]) c?.close();
  await browser?.close();
  await broker?.stop();
});

test('the dashboard loads and asks for the admin token', async () => {
  await page.goto(broker.base + '/');
  assert.equal(await page.title(), 'possync ops');
  await page.getByTestId('token-input').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#app').isHidden(), true);
  await shot('01-sign-in.png');
});

test('a wrong token shows a clear message and keeps the dashboard closed', async () => {
  await page.getByTestId('token-input').fill('not-the-admin-token');
  await page.getByTestId('sign-in').click();
  const error = page.getByTestId('login-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.innerText(), /wrong admin token/i);
  assert.equal(await page.locator('#app').isHidden(), true);
  await shot('02-wrong-token.png');
});

test('live stats change while a client sends orders', async () => {
  await page.getByTestId('token-input').fill(ADMIN);
  await page.getByTestId('sign-in').click();
  await page.waitForSelector('[data-testid=link-state][data-state=live]');
  // The first stats frame: connections counts the three POS terminals.
  await page.waitForFunction(() => document.getElementById('k-connections').textContent === '3');
  const before = Number(await text('[data-testid=k-orders]'));

  // Five bursts, each sent once the page showed the previous one, so the
  // charts get a few points.
  for (let burst = 0; burst < 5; burst++) {
    const sends = [];
    for (let i = 0; i < 8; i++) {
      const ref = `live-${burst}-${i}`;
      sends.push(counter.request({ type: 'send', ref, to: ['kitchen-1'], order: sampleOrder(ref) }));
    }
    for (const r of await Promise.all(sends)) assert.equal(r.type, 'sent');
    await page.waitForFunction((n) => Number(document.getElementById('k-orders').textContent) >= n,
      before + 8 * (burst + 1));
  }
  await page.waitForFunction(() => parseFloat(document.getElementById('k-rate').textContent) > 0);
  // The charts drew the rate and the send→push latency of those orders.
  await page.waitForFunction(() => document.querySelector('#chart-rate path.s0')?.getAttribute('d')?.includes('L'));
  await page.waitForFunction(() => document.getElementById('k-p50').textContent.endsWith('ms'));
  await page.locator('[data-testid=events] li[data-event=order]').first().waitFor();
  await shot('03-live.png');
});

test('the live view fits a tablet screen without sideways scrolling', async () => {
  await page.setViewportSize({ width: 768, height: 1024 });
  await page.waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth);
  await shot('03-live-tablet.png');
  await page.setViewportSize({ width: 1280, height: 860 });
});

test('the order list shows an order with its sender, receivers and status', async () => {
  const sent = await counter.request({ type: 'send', ref: 'web-1', to: ['kitchen-1', 'bar-1'], order: sampleOrder('Web 1') });
  assert.equal(sent.type, 'sent');
  state.orderId = sent.order_id;
  await kitchen.waitFor((m) => m.type === 'order' && m.order_id === sent.order_id);
  kitchen.send({ type: 'ack', order_id: sent.order_id });
  await counter.waitFor((m) => m.type === 'status' && m.order_id === sent.order_id && m.status === 'received');

  await page.getByRole('tab', { name: 'Orders' }).click();
  await page.getByTestId('filter-ref').fill('web-1');
  await page.getByTestId('filter-apply').click();
  const row = page.locator(`[data-testid=orders-table] tr[data-order-id="${sent.order_id}"]`);
  await row.waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#orders-body tr').length === 1);
  assert.equal(await row.locator('td.ref').innerText(), 'web-1');
  assert.equal(await row.locator('td.from').innerText(), 'counter-1');
  const badges = await row.locator('td.receivers .badge').allInnerTexts();
  assert.deepEqual(badges.map((b) => b.trim()).sort(), ['bar-1: sent', 'kitchen-1: received']);
  await shot('04-orders.png');
});

test("an order's detail shows lines, customer, receivers and the history in order", async () => {
  const id = state.orderId;
  const delivered = await kitchen.request({ type: 'deliver', order_id: id });
  assert.equal(delivered.type, 'delivered');
  const rejected = await bar.request({ type: 'reject', order_id: id, reason: 'out of stock' });
  assert.equal(rejected.type, 'rejected');

  await page.locator(`[data-testid=orders-table] tr[data-order-id="${id}"]`).click();
  const detail = page.getByTestId('order-detail');
  await detail.waitFor({ state: 'visible' });
  // The live feed refreshes an open detail: wait for the last transition.
  await page.waitForFunction(() => document.querySelectorAll('#detail-history li').length === 5);
  const history = await page.locator('#detail-history li').evaluateAll((items) =>
    items.map((li) => `${li.dataset.session}:${li.dataset.to}`));
  // The creation entries first (one per receiver), then each change as it happened.
  assert.deepEqual(history.slice(0, 2).sort(), ['bar-1:sent', 'kitchen-1:sent']);
  assert.deepEqual(history.slice(2), ['kitchen-1:received', 'kitchen-1:delivered', 'bar-1:rejected']);
  assert.match(await text('[data-testid=detail-customer]'), /Ana Souza/);
  assert.equal(await page.locator('#detail-lines tr').count(), 2);
  assert.match(await text('#detail-lines'), /Margherita/);
  const deliveries = await text('[data-testid=detail-deliveries]');
  assert.match(deliveries, /kitchen-1: delivered/);
  assert.match(deliveries, /bar-1: rejected/);
  assert.match(await text('#detail-history'), /out of stock/);
  await shot('05-order-detail.png');
  await page.locator('#detail-close').click();
  await detail.waitFor({ state: 'hidden' });
});

test('creating a session shows its token once; rotating replaces it', async () => {
  await page.getByRole('tab', { name: 'Sessions' }).click();
  await page.getByTestId('new-session-id').fill('till-9');
  await page.getByTestId('new-session-name').fill('Till 9');
  await page.getByTestId('new-session-sender').check();
  await page.getByTestId('create-session').click();
  await page.getByTestId('token-box').waitFor({ state: 'visible' });
  const first = (await text('[data-testid=token-value]'));
  assert.match(first, /^[0-9a-f]{64}$/);
  const row = page.locator('[data-testid=sessions-table] tr[data-session="till-9"]');
  await row.waitFor();
  assert.match(await row.innerText(), /Till 9/);

  // The token works, and the dashboard sees the terminal come online.
  const till = await PosClient.connect(broker.base, 'till-9', first);
  assert.equal(till.welcome.type, 'welcome');
  await page.waitForFunction(() =>
    document.querySelector('tr[data-session="till-9"] td[data-connections]')?.dataset.connections === '1');
  await shot('06-session-created.png');

  await page.locator('#token-dismiss').click();
  await row.locator('[data-action=rotate]').click();
  await page.getByTestId('token-box').waitFor({ state: 'visible' });
  const second = await text('[data-testid=token-value]');
  assert.match(second, /^[0-9a-f]{64}$/);
  assert.notEqual(second, first);
  assert.equal(await till.waitClosed(), 4401);  // the old token's connection is closed

  const refused = new PosClient(broker.base.replace(/^http/, 'ws') + '/ws');
  await refused.opened;
  const reply = await refused.request({ type: 'hello', session: 'till-9', token: first });
  assert.equal(reply.code, 'unauthorized');
  refused.close();
  const again = await PosClient.connect(broker.base, 'till-9', second);
  assert.equal(again.welcome.type, 'welcome');
  again.close();
  await shot('07-token-rotated.png');
});

test('the dashboard says so when the broker is unreachable, and reconnects on its own', async () => {
  await page.getByRole('tab', { name: 'Live' }).click();
  await page.waitForSelector('[data-testid=link-state][data-state=live]');
  await broker.stop({ keepData: true });
  const banner = page.getByTestId('banner');
  await banner.waitFor({ state: 'visible' });
  assert.match(await banner.innerText(), /unreachable|shutting down/i);
  await page.waitForSelector('[data-testid=link-state]:not([data-state=live])');
  await shot('08-unreachable.png');

  broker = await broker.restart();  // same port, same database
  await page.waitForSelector('[data-testid=link-state][data-state=live]', { timeout: 30000 });
  await banner.waitFor({ state: 'hidden' });
  // Still signed in: the orders are back from the same store.
  await page.getByRole('tab', { name: 'Orders' }).click();
  await page.locator(`[data-testid=orders-table] tr[data-order-id="${state.orderId}"]`).waitFor();
});
