// A real possync-broker for the JavaScript tests (clients/js and
// tests/browser): started on 127.0.0.1 port 0 with a fresh SQLite file, its
// URLs read from the lines it prints at start, stopped by PID (also when a
// test fails: call stop() in an `after` hook; a process exit handler kills it
// as a last resort). No dependencies beyond Node 20.
//
//   const broker = await startBroker();
//   const token = await broker.addSession('kitchen-1', { receiver: true });
//   … broker.wsUrl, broker.base, await broker.api('GET', '/api/orders') …
//   await broker.stop();
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The broker binary: $POSSYNC_BROKER_BIN, else build/broker/possync-broker of this checkout. */
export function brokerBinary() {
  return process.env.POSSYNC_BROKER_BIN || join(repoRoot, 'build', 'broker', 'possync-broker');
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts a broker and resolves once it printed its WebSocket line; rejects
 * with its output if it exits or stays silent for `startTimeoutMs`.
 * `listen` and `dir` start one on a given address and store directory (what
 * restart() does); `args` are extra flags, e.g. ['--heartbeat-ms', '1000'].
 */
export async function startBroker({
  binary = brokerBinary(),
  adminToken = randomBytes(24).toString('hex'),
  listen = '127.0.0.1:0',
  dir = null,
  args = [],
  startTimeoutMs = 15000,
} = {}) {
  dir = dir || mkdtempSync(join(tmpdir(), 'possync-js-test-'));
  const child = spawn(
    binary,
    ['--listen', listen, '--store', `sqlite:${join(dir, 'possync.db')}`, '--admin-token', adminToken,
      '--threads', '2', '--log-level', 'warn', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  let output = '';
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  exited.then(() => running.delete(child));
  const wsUrl = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`broker printed no WebSocket line in ${startTimeoutMs} ms:\n${output}`)), startTimeoutMs);
    const onData = (chunk) => {
      output += chunk;
      const m = /^WebSocket (ws:\/\/\S+)$/m.exec(output);
      if (m) {
        clearTimeout(timer);
        res(m[1]);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`broker exited (${code ?? signal}) before serving:\n${output}`));
    });
  }).catch((err) => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const base = wsUrl.replace(/^ws:/, 'http:').replace(/\/ws$/, '');

  const broker = {
    wsUrl,
    /** http://127.0.0.1:PORT (no trailing slash) */
    base,
    adminToken,
    pid: child.pid,
    /** Everything the broker printed (stdout and stderr). */
    output: () => output,
    async api(method, path, body, token = adminToken) {
      const res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    /** Creates a session; resolves with its token. */
    async addSession(id, { name = id, sender = false, receiver = false, shop = 'main' } = {}) {
      const r = await broker.api('PUT', `/api/sessions/${encodeURIComponent(id)}`, { name, shop, sender, receiver });
      if (r.status !== 201) throw new Error(`add session ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.token;
    },
    /** The orders the store holds (GET /api/orders with the given filters). */
    async orders(query = {}) {
      const r = await broker.api('GET', `/api/orders?${new URLSearchParams(query)}`);
      if (r.status !== 200) throw new Error(`GET /api/orders: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.orders;
    },
    /** SIGTERM (graceful), SIGKILL after `graceMs`; removes the store unless `keepData`. */
    async stop({ keepData = false, graceMs = 5000 } = {}) {
      if (running.has(child)) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      if (!keepData) rmSync(dir, { recursive: true, force: true });
    },
    /** Stops it (if running) and starts it again on the same port and store. */
    async restart() {
      await broker.stop({ keepData: true });
      return startBroker({ binary, adminToken, listen: new URL(base).host, dir, args, startTimeoutMs });
    },
  };
  return broker;
}

/**
 * Waits until `check()` returns a truthy value (or a promise of one) and
 * returns it; throws after `timeoutMs` with `what` in the message. Polls
 * every `intervalMs`: a condition, never a fixed sleep.
 */
export async function waitFor(check, { timeoutMs = 5000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
