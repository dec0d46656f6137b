import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { exchange, request, upgradeRequest } from './raw-http.js';

/**
 * A WebSocket client may send a broken frame in the same packet as its
 * upgrade, before its authorization has been decided (authMethod http takes
 * a round trip). Found by the ws-frame fuzzer: the socket had no 'error'
 * listener in that window, and ws's protocol error ended the process.
 */

let srv: TestServer;
let authServer: Server;
let decided = 0;

beforeAll(async () => {
  authServer = createServer((req, res) => {
    req.resume();
    // Slow enough that the frame is parsed while the decision is still pending.
    setTimeout(() => {
      decided++;
      res.writeHead(200).end();
    }, 300);
  });
  await new Promise<void>((resolve) => authServer.listen(0, '127.0.0.1', resolve));
  const authPort = (authServer.address() as AddressInfo).port;
  srv = await startServer(['authMethod: http', `authHTTPAddress: http://127.0.0.1:${authPort}/auth`, 'paths:', '  all_others:', ''].join('\n'));
});

afterAll(async () => {
  await srv?.stop();
  await new Promise((resolve) => authServer?.close(resolve));
});

/** A masked frame with RSV2 and RSV3 set: no extension was negotiated, so RFC 6455 says fail the connection. */
const BAD_FRAME = Buffer.from([0xb2, 0x80, 1, 2, 3, 4]);

describe('a protocol error while authorization is pending', () => {
  for (const suffix of ['ws/nal', 'ws/input', 'ws/fmp4']) {
    it(`${suffix}: closes that client with 1002 and the server keeps serving`, async () => {
      const before = decided;
      const r = await exchange(srv.webPort, Buffer.concat([Buffer.from(upgradeRequest(`/early/${suffix}`)), BAD_FRAME]), 3000);
      expect(r.response?.status).toBe(101);
      expect(r.closedByServer).toBe(true);
      // The close frame: opcode 8, then status 1002 (protocol error).
      const close = Buffer.from(r.raw.slice(r.raw.indexOf('\r\n\r\n') + 4), 'latin1');
      expect(close[0]).toBe(0x88);
      expect(close.readUInt16BE(2)).toBe(1002);
      // Let the pending authorization finish: it must find the socket gone and leave nothing behind.
      while (decided === before) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 50));
      const next = await exchange(srv.webPort, request('GET', '/early/'));
      expect(next.response?.status).toBe(200);
      expect(srv.server.paths.get('early')?.readers.size ?? 0).toBe(0);
    });
  }
});
