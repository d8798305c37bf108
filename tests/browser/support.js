// Support for the browser tests: a real possync-broker child process on an
// ephemeral 127.0.0.1 port with a fresh SQLite file, the ops HTTP API, and
// a small WebSocket POS client. Every wait is bounded; nothing asserts on
// elapsed time.
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { startBroker as startSharedBroker } from '../support/broker.js';

export const WAIT_MS = 10000;

// Debian's chromium ($POSSYNC_CHROMIUM), headless, with the flags a root
// container needs (BUILD-NOTES.md); never a browser downloaded by playwright.
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.POSSYNC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

// The broker: tests/support/broker.js (shared with clients/js's tests), with
// this folder's positional signature. `listen` and `dir` restart one on the
// same address and database; the object has base, api(), addSession(),
// stop({ keepData }) and restart().
export function startBroker(binary, adminToken, { listen, dir } = {}) {
  return startSharedBroker({ binary, adminToken, listen, dir, startTimeoutMs: WAIT_MS });
}

// A POS terminal over the wire protocol: request() correlates replies by id;
// every other message is kept for waitFor().
export class PosClient {
  static async connect(base, session, token) {
    const c = new PosClient(base.replace(/^http/, 'ws') + '/ws');
    await c.opened;
    c.welcome = await c.request({ type: 'hello', session, token });
    return c;
  }

  constructor(url) {
    this.ws = new WebSocket(url);
    this.nextId = 1;
    this.pending = new Map();
    this.pushes = [];
    this.waiters = [];
    this.closeCode = null;
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.ws.on('message', (data) => {
      const msg = JSON.parse(String(data));
      if (msg.id !== undefined && this.pending.has(msg.id)) {
        this.pending.get(msg.id)(msg);
        this.pending.delete(msg.id);
        return;
      }
      this.pushes.push(msg);
      this.waiters = this.waiters.filter((w) => !w());
    });
    this.ws.on('close', (code) => {
      this.closeCode = code;
      this.waiters = this.waiters.filter((w) => !w());
    });
  }

  request(obj) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${obj.type} in time`)), WAIT_MS);
      this.pending.set(id, (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      this.ws.send(JSON.stringify({ ...obj, id }));
    });
  }

  send(obj) { this.ws.send(JSON.stringify(obj)); }

  // The first push (past or future) satisfying pred.
  waitFor(pred) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('expected push did not arrive')), WAIT_MS);
      const check = () => {
        const m = this.pushes.find(pred);
        if (!m) return false;
        clearTimeout(timer);
        resolve(m);
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }

  waitClosed() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connection did not close')), WAIT_MS);
      const check = () => {
        if (this.closeCode === null) return false;
        clearTimeout(timer);
        resolve(this.closeCode);
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }

  close() { this.ws.close(); }
}

export function sampleOrder(name) {
  return {
    name,
    table: 'T4',
    note: 'no onions',
    customer: { id: 88, name: 'Ana Souza', phone: '+55 11 5555-0100' },
    lines: [
      { product_id: 31, name: 'Margherita', qty: 2, price_unit: 9.5, discount: 10, note: 'extra basil' },
      { product_id: 'sku-77', name: 'Água com gás', qty: 1, price_unit: 2.0 },
    ],
  };
}
