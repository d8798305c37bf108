// A tiny TCP proxy in front of the broker that a test can pause and cut, to
// put a connection failure exactly where the test wants it: `hold('down')`
// keeps the broker's bytes from reaching the client (a reply is lost in
// flight), `hold('up')` keeps the client's bytes from reaching the broker (a
// request is lost), `cut()` destroys every connection at once and drops
// what was held, like a pulled network cable, and `stall()` turns the current
// connections into black holes (nothing passes, not even the broker's close)
// while new ones work, like a Wi-Fi that died without a word.
import net from 'node:net';

export async function startProxy(targetPort, targetHost = '127.0.0.1') {
  const links = new Set();
  const held = { up: false, down: false };
  let heldBytes = { up: 0, down: 0 };
  let accepted = 0;

  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect(targetPort, targetHost);
    const link = { client, upstream, stalled: false };
    links.add(link);
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d) => {
      if (link.stalled) return;
      if (held.up) heldBytes.up += d.length;
      else upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (link.stalled) return;
      if (held.down) heldBytes.down += d.length;
      else client.write(d);
    });
    client.on('error', end);
    client.on('close', end);
    upstream.on('error', () => link.stalled || end());
    upstream.on('close', () => link.stalled || end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    /** Connections accepted so far. */
    get accepted() {
      return accepted;
    },
    get heldBytes() {
      return { ...heldBytes };
    },
    hold(direction) {
      held[direction] = true;
    },
    stall() {
      for (const link of links) link.stalled = true;
    },
    cut() {
      for (const { client, upstream } of links) {
        client.destroy();
        upstream.destroy();
      }
      links.clear();
      held.up = held.down = false;
      heldBytes = { up: 0, down: 0 };
    },
    async close() {
      this.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
