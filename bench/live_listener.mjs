// A dashboard for bench/metrics_overhead.sh: subscribes to /api/live and
// counts the frames it receives until SIGTERM, then prints the count.
// Uses the `ws` package installed for tests/browser.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(path.join(path.dirname(fileURLToPath(import.meta.url)), '../tests/browser/package.json'));
const WebSocket = require('ws');
const [url, token] = process.argv.slice(2);
let frames = 0;
const ws = new WebSocket(url);
ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', token })));
ws.on('message', () => { frames++; });
ws.on('close', (code) => { console.log(`${frames} closed:${code}`); process.exit(0); });
process.on('SIGTERM', () => { console.log(String(frames)); process.exit(0); });
