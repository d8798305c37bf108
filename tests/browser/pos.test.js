// The POS terminal page (/pos) in headless Debian chromium (playwright-core),
// two pages as two terminals against a real broker binary: counter-1 sends,
// kitchen-1 (and kitchen-2) receive. Each terminal has its own browser
// context (its own localStorage, like a separate tablet). Screenshots of
// every step go to artifacts/browser/pos/. Run with the dashboard's tests:
// scripts/browser-tests.sh.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WAIT_MS, launchChromium, startBroker } from './support.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const brokerBin = process.env.POSSYNC_BROKER_BIN || path.join(root, 'build/broker/possync-broker');
const artifacts = path.join(process.env.POSSYNC_ARTIFACTS || path.join(root, 'artifacts/browser'), 'pos');
const ADMIN = 'pos-browser-test-admin-token-0123456789';

let broker, browser;
const tokens = {};
const screenshots = [];
const pageErrors = []; // uncaught exceptions in any page: each fails its test

// A terminal: its own context (storage) and page. `dropFrames` lets a test
// lose chosen WebSocket frames in either direction, as a flaky network would.
// With `tabOf`, the terminal is another tab of that terminal's browser (same
// context, shared localStorage), as a newcomer trying /pos in two tabs does.
async function terminal(name, { width = 1180, height = 820, tabOf = null } = {}) {
  const context = tabOf?.context || (await browser.newContext({ viewport: { width, height }, hasTouch: true }));
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  await page.setViewportSize({ width, height });
  page.setDefaultTimeout(WAIT_MS);
  const drop = { toBroker: null, toPage: null };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      if (drop.toBroker?.(JSON.parse(m))) return;
      server.send(m);
    });
    server.onMessage((m) => {
      if (drop.toPage?.(JSON.parse(m))) return;
      ws.send(m);
    });
  });
  const t = { name, context, page, drop };
  t.shot = async (step) => {
    const file = path.join(artifacts, `${step}.png`);
    await page.screenshot({ path: file, fullPage: true });
    screenshots.push(file);
  };
  return t;
}

async function signIn(t, session) {
  await t.page.goto(`${broker.base}/pos`);
  await t.page.getByTestId('login-session').fill(session);
  await t.page.getByTestId('login-token').fill(tokens[session]);
  await t.page.getByTestId('login-submit').click();
  await t.page.waitForSelector('[data-testid=connection][data-state=online]');
}

async function addProduct(page, name, times = 1) {
  for (let i = 0; i < times; i++) await page.locator('#product-grid .product', { hasText: name }).click();
}

// The cart as the cashier sees it: lines, customer and note.
async function cartOf(page) {
  return page.evaluate(() => ({
    lines: [...document.querySelectorAll('#cart-lines tr')].map((tr) => ({
      product_id: tr.dataset.productId,
      name: tr.querySelector('td.name').firstChild.textContent,
      qty: tr.querySelector('input.qty').value,
      price_unit: tr.querySelector('input.price').value,
      discount: tr.querySelector('input.discount').value,
      total: tr.querySelector('.line-total').textContent,
    })),
    customer: document.getElementById('cart-customer').selectedOptions[0]?.textContent,
    note: document.getElementById('cart-note').value,
    total: document.getElementById('cart-total').textContent,
  }));
}

async function sendTo(t, receivers, { mode = 'copy' } = {}) {
  const ref = await t.page.getByTestId('cart-ref').innerText();
  await t.page.getByTestId('open-send').click();
  for (const r of receivers) await t.page.getByTestId(`to-${r}`).check();
  await t.page.getByTestId(`mode-${mode}`).check();
  return ref;
}

const badge = (page, ref, session) =>
  page.locator(`[data-testid=sent-item][data-ref="${ref}"] [data-testid=receiver-status][data-session="${session}"]`);

async function waitBadge(page, ref, session, status) {
  await page.waitForSelector(
    `[data-testid=sent-item][data-ref="${ref}"] [data-testid=receiver-status][data-session="${session}"][data-status="${status}"]`,
  );
}

async function storedOrders(ref) {
  const r = await broker.api('GET', `/api/orders?sender=counter-1&ref=${encodeURIComponent(ref)}`);
  assert.equal(r.status, 200);
  return r.body.orders;
}

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  broker = await startBroker(brokerBin, ADMIN);
  tokens['counter-1'] = await broker.addSession('counter-1', { sender: true });
  tokens['kitchen-1'] = await broker.addSession('kitchen-1', { receiver: true });
  tokens['kitchen-2'] = await broker.addSession('kitchen-2', { receiver: true });
  for (const [id, name] of [['counter-1', 'Counter 1'], ['kitchen-1', 'Kitchen 1'], ['kitchen-2', 'Kitchen 2']]) {
    assert.equal((await broker.api('PUT', `/api/sessions/${id}`, { name })).status, 200);
  }
  browser = await launchChromium();
});

afterEach(() => {
  assert.deepEqual(pageErrors.splice(0), [], 'no uncaught exception in the pages');
});

after(async () => {
  await browser?.close();
  await broker?.stop();
  if (screenshots.length) console.log(`POS screenshots:\n${screenshots.join('\n')}`);
});

test('send → receive → deliver: the kitchen cart matches the counter cart; the counter sees "delivered"', async () => {
  const counter = await terminal('counter-1');
  // Another tab of the same browser, sized like a tablet held upright.
  const kitchen = await terminal('kitchen-1', { width: 820, height: 1180, tabOf: counter });
  try {
    await counter.page.goto(`${broker.base}/pos`);
    await counter.shot('01-sign-in');
    // A wrong token: a clear message, still signed out.
    await counter.page.getByTestId('login-session').fill('counter-1');
    await counter.page.getByTestId('login-token').fill('wrong-token');
    await counter.page.getByTestId('login-submit').click();
    await counter.page.getByTestId('login-error').waitFor({ state: 'visible' });
    assert.match(await counter.page.getByTestId('login-error').innerText(), /session id or token was refused/);
    await counter.shot('02-wrong-token');

    await signIn(counter, 'counter-1');
    await signIn(kitchen, 'kitchen-1');
    assert.match(await counter.page.getByTestId('terminal').innerText(), /Counter 1/);

    // counter-1 builds a cart: 2 Margherita at 10 % off, 1 Água com gás, a customer and a note.
    await addProduct(counter.page, 'Margherita', 2);
    await addProduct(counter.page, 'Água com gás');
    await counter.page.locator('#cart-lines tr[data-product-id="31"] input.discount').fill('10');
    await counter.page.getByTestId('cart-customer').selectOption({ label: 'Ana Souza' });
    await counter.page.getByTestId('cart-note').fill('no onions, table by the window');
    const sentCart = await cartOf(counter.page);
    assert.deepEqual(sentCart.lines.map((l) => [l.name, l.qty, l.discount]), [['Margherita', '2', '10'], ['Água com gás', '1', '0']]);
    assert.equal(sentCart.total, '19.10');
    await counter.shot('03-counter-cart');

    const ref = await sendTo(counter, ['kitchen-1']);
    await counter.page.waitForSelector('#receiver-list [data-session="kitchen-1"][data-online=true]');
    await counter.shot('04-send-dialog');
    await counter.page.getByTestId('send-confirm').click();
    await counter.page.waitForSelector(`[data-testid=sent-item][data-ref="${ref}"][data-state=sent]`);

    // kitchen-1's Receive Order list shows it within a second.
    const orderId = Number(await counter.page.locator(`[data-testid=sent-item][data-ref="${ref}"]`).getAttribute('data-order-id'));
    await kitchen.page.waitForSelector(`[data-testid=inbox-count][data-n="1"]`, { timeout: 1000 });
    await kitchen.page.getByTestId('open-inbox').click();
    const item = kitchen.page.locator(`[data-testid=inbox-item][data-order-id="${orderId}"]`);
    await item.waitFor({ timeout: 1000 });
    assert.match(await item.innerText(), /Counter 1/);
    assert.match(await item.innerText(), /Margherita/);
    assert.match(await item.innerText(), /Ana Souza/);
    await kitchen.shot('05-kitchen-receive-order');
    await waitBadge(counter.page, ref, 'kitchen-1', 'received');

    // Deliver: the same lines, discount, customer and note in kitchen-1's cart.
    await item.getByTestId('deliver').click();
    await kitchen.page.getByTestId('cart-origin').waitFor({ state: 'visible' });
    const deliveredCart = await cartOf(kitchen.page);
    assert.deepEqual(deliveredCart, sentCart);
    await kitchen.shot('06-kitchen-cart-delivered');

    await waitBadge(counter.page, ref, 'kitchen-1', 'delivered');
    assert.equal(await badge(counter.page, ref, 'kitchen-1').innerText(), 'Kitchen 1: delivered');
    await counter.shot('07-counter-sees-delivered');

    // The store holds that one order, exactly as the counter built it.
    const [stored] = await storedOrders(ref);
    const detail = (await broker.api('GET', `/api/orders/${stored.order_id}`)).body;
    assert.equal(detail.order.customer.name, 'Ana Souza');
    assert.equal(detail.order.note, 'no onions, table by the window');
    assert.deepEqual(detail.order.lines.map((l) => [l.product_id, l.qty, l.price_unit, l.discount ?? 0]), [[31, 2, 9.5, 10], ['sku-77', 1, 2, 0]]);
    // Both tabs reload: each is still its own terminal.
    await counter.page.reload();
    await kitchen.page.reload();
    await counter.page.waitForSelector('[data-testid=connection][data-state=online]');
    await kitchen.page.waitForSelector('[data-testid=connection][data-state=online]');
    assert.match(await counter.page.getByTestId('terminal').innerText(), /counter-1/);
    assert.match(await kitchen.page.getByTestId('terminal').innerText(), /kitchen-1/);
  } finally {
    await counter.context.close();
  }
});

test('kitchen-1 offline while counter-1 sends: it signs in later and sees the order', async () => {
  const counter = await terminal('counter-1');
  const kitchen = await terminal('kitchen-1');
  try {
    await signIn(counter, 'counter-1');
    await addProduct(counter.page, 'Cheeseburger');
    await addProduct(counter.page, 'Fries', 2);
    const ref = await sendTo(counter, ['kitchen-1']);
    await counter.page.waitForSelector('#receiver-list [data-session="kitchen-1"][data-online=false]');
    await counter.shot('08-send-to-offline-kitchen');
    await counter.page.getByTestId('send-confirm').click();
    await waitBadge(counter.page, ref, 'kitchen-1', 'sent');
    await counter.shot('09-counter-sent-while-kitchen-offline');

    await signIn(kitchen, 'kitchen-1');
    await kitchen.page.getByTestId('open-inbox').click();
    const item = kitchen.page.locator('[data-testid=inbox-item]', { hasText: 'Cheeseburger' });
    await item.waitFor();
    await kitchen.shot('10-kitchen-signs-in-and-sees-it');
    await waitBadge(counter.page, ref, 'kitchen-1', 'received');

    // Reject with a reason: the counter sees it.
    await item.getByTestId('reject').click();
    await kitchen.page.getByTestId('reject-reason').fill('grill is down');
    await kitchen.page.getByTestId('reject-confirm').click();
    await waitBadge(counter.page, ref, 'kitchen-1', 'rejected');
    assert.match(await badge(counter.page, ref, 'kitchen-1').innerText(), /rejected \(grill is down\)/);
    await counter.shot('11-counter-sees-rejected');
  } finally {
    await counter.context.close();
    await kitchen.context.close();
  }
});

test('claim mode to two kitchens: one delivers, the other shows it as taken', async () => {
  const counter = await terminal('counter-1');
  const k1 = await terminal('kitchen-1');
  const k2 = await terminal('kitchen-2');
  try {
    await Promise.all([signIn(counter, 'counter-1'), signIn(k1, 'kitchen-1'), signIn(k2, 'kitchen-2')]);
    await addProduct(counter.page, 'Pepperoni');
    const ref = await sendTo(counter, ['kitchen-1', 'kitchen-2'], { mode: 'claim' });
    await counter.shot('12-claim-send-dialog');
    await counter.page.getByTestId('send-confirm').click();
    await counter.page.waitForSelector(`[data-testid=sent-item][data-ref="${ref}"][data-state=sent]`);
    const orderId = await counter.page.locator(`[data-testid=sent-item][data-ref="${ref}"]`).getAttribute('data-order-id');

    for (const k of [k1, k2]) await k.page.getByTestId('open-inbox').click();
    const on1 = k1.page.locator(`[data-testid=inbox-item][data-order-id="${orderId}"]`);
    const on2 = k2.page.locator(`[data-testid=inbox-item][data-order-id="${orderId}"]`);
    await on2.waitFor();
    await on1.getByTestId('deliver').click();
    await k1.page.getByTestId('cart-origin').waitFor({ state: 'visible' });

    await k2.page.waitForSelector(`[data-testid=inbox-item][data-order-id="${orderId}"][data-status=taken]`);
    assert.equal(await on2.getByTestId('inbox-status').innerText(), 'taken by Kitchen 1');
    assert.equal(await on2.getByTestId('deliver').count(), 0, 'no Deliver button on a taken order');
    await k2.shot('13-kitchen-2-sees-taken');
    await waitBadge(counter.page, ref, 'kitchen-1', 'delivered');
    await waitBadge(counter.page, ref, 'kitchen-2', 'taken');
    await counter.shot('14-counter-claim-result');
  } finally {
    for (const t of [counter, k1, k2]) await t.context.close();
  }
});

test('a reload of the sender page in the middle of a send neither loses nor duplicates the order', async () => {
  const counter = await terminal('counter-1');
  try {
    await signIn(counter, 'counter-1');

    // 1. The send frame is lost on its way to the broker, then the page reloads.
    await addProduct(counter.page, 'Tiramisu', 3);
    const lostRef = await sendTo(counter, ['kitchen-1']);
    let lostSends = 0;
    counter.drop.toBroker = (m) => m.type === 'send' && m.ref === lostRef && ++lostSends === 1;
    await counter.page.getByTestId('send-confirm').click();
    await counter.page.waitForSelector(`[data-testid=sent-item][data-ref="${lostRef}"][data-state=pending]`);
    assert.equal(lostSends, 1);
    assert.equal((await storedOrders(lostRef)).length, 0, 'the broker never saw it');
    await counter.shot('15-send-lost-before-reload');
    await counter.page.reload();
    await counter.page.waitForSelector(`[data-testid=sent-item][data-ref="${lostRef}"][data-state=sent]`);
    assert.equal((await storedOrders(lostRef)).length, 1);
    await counter.shot('16-after-reload-sent-once');

    // 2. The broker stores the order but its `sent` reply is lost, then the page reloads.
    await addProduct(counter.page, 'Soup of the day');
    const storedRef = await sendTo(counter, ['kitchen-1']);
    counter.drop.toPage = (m) => m.type === 'sent' && m.ref === storedRef && m.duplicate === false;
    await counter.page.getByTestId('send-confirm').click();
    const deadline = Date.now() + WAIT_MS;
    while ((await storedOrders(storedRef)).length === 0) {
      assert.ok(Date.now() < deadline, 'the order reached the store');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await counter.page.locator(`[data-testid=sent-item][data-ref="${storedRef}"]`).getAttribute('data-state'), 'pending');
    await counter.shot('17-stored-reply-lost-before-reload');
    await counter.page.reload();
    await counter.page.waitForSelector(`[data-testid=sent-item][data-ref="${storedRef}"][data-state=sent]`);
    assert.equal((await storedOrders(storedRef)).length, 1, 'exactly one order for the ref');
    assert.equal(await counter.page.locator(`[data-testid=sent-item][data-ref="${storedRef}"]`).count(), 1);
    const outbox = await counter.page.evaluate(() => globalThis.posPage.client.pendingSends().length);
    assert.equal(outbox, 0, 'the outbox is empty');
    await counter.shot('18-after-reload-no-duplicate');

    // The kitchen's inbox has each order once.
    const inbox = await broker.api('GET', '/api/orders?receiver=kitchen-1&sender=counter-1');
    for (const ref of [lostRef, storedRef]) assert.equal(inbox.body.orders.filter((o) => o.ref === ref).length, 1);
  } finally {
    await counter.context.close();
  }
});

test('a broker error is shown in words: the receiver was deleted while the dialog was open', async () => {
  await broker.addSession('kitchen-9', { receiver: true });
  const counter = await terminal('counter-1');
  try {
    await signIn(counter, 'counter-1');
    await addProduct(counter.page, 'Lemonade');
    const ref = await sendTo(counter, ['kitchen-9']);
    assert.equal((await broker.api('DELETE', '/api/sessions/kitchen-9')).status, 204);
    await counter.page.getByTestId('send-confirm').click();
    const toast = counter.page.locator('[data-testid=toasts] .toast[data-kind=error]');
    await toast.waitFor();
    assert.match(await toast.innerText(), /The order was not sent: not found: .*kitchen-9/);
    const item = counter.page.locator(`[data-testid=sent-item][data-ref="${ref}"][data-state=failed]`);
    await item.waitFor();
    assert.match(await item.getByTestId('sent-error').innerText(), /not found/);
    // The cart is back for the cashier to send elsewhere.
    assert.equal(await counter.page.locator('#cart-lines tr').count(), 1);
    assert.equal((await storedOrders(ref)).length, 0);
    await counter.shot('19-error-receiver-deleted');
  } finally {
    await counter.context.close();
  }
});

test('the page on a phone-sized screen keeps large touch targets', async () => {
  const phone = await terminal('kitchen-1', { width: 390, height: 844 });
  try {
    await signIn(phone, 'kitchen-1');
    const small = await phone.page.evaluate(() =>
      [...document.querySelectorAll('button')]
        .filter((b) => b.offsetParent !== null)
        .map((b) => b.getBoundingClientRect())
        .filter((r) => r.height < 40 || r.width < 40).length);
    assert.equal(small, 0, 'every visible button is at least 40 px each way');
    await phone.shot('20-phone-layout');
  } finally {
    await phone.context.close();
  }
});
