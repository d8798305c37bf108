// Support for the browser tests: a real possync-broker child process on an
// ephemeral 127.0.0.1 port with a fresh SQLite file, the ops HTTP API, and
// a small WebSocket POS client. Every wait is bounded; nothing asserts on
// elapsed time.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

export const WAIT_MS = 10000;

// Starts the broker and resolves once it printed its dashboard URL. `listen`
// and `dir` restart one on the same address and database.
export async function startBroker(binary, adminToken, { listen = '127.0.0.1:0', dir = null } = {}) {
  dir = dir || mkdtempSync(path.join(tmpdir(), 'possync-browser-'));
  const child = spawn(binary, ['--listen', listen, '--store', `sqlite:${path.join(dir, 'possync.db')}`,
    '--admin-token', adminToken, '--threads', '2', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`broker did not start in time: ${stderr}`)), WAIT_MS);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /Dashboard (http:\/\/\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code}: ${stderr}`));
    });
  });
  const broker = {
    base,
    pid: child.pid,
    adminToken,
    stderr: () => stderr,
    // Stops the broker by its PID: SIGTERM (graceful), SIGKILL after 5 s.
    // The database is removed unless it is kept for a restart.
    async stop({ keepData = false } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        process.kill(child.pid, 'SIGTERM');
        const killer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
        await exited;
        clearTimeout(killer);
      }
      if (!keepData) rmSync(dir, { recursive: true, force: true });
    },
    // Stops it (if running) and starts it again on the same port and database.
    async restart() {
      await this.stop({ keepData: true });
      return startBroker(binary, adminToken, { listen: new URL(base).host, dir });
    },
    async api(method, route, body, token = adminToken) {
      const res = await fetch(base + route, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    // Creates a session and returns its token.
    async addSession(id, { sender = false, receiver = false, shop = 'main' } = {}) {
      const r = await this.api('PUT', `/api/sessions/${id}`, { name: id, shop, sender, receiver });
      if (r.status !== 201) throw new Error(`add session ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.token;
    },
  };
  // A test run that dies must not leave the broker behind.
  process.once('exit', () => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } });
  return broker;
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
