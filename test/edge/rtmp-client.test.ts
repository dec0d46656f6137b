import { afterAll, describe, expect, it } from 'vitest';
import { ClientHandshake, HANDSHAKE_SIZE, ServerHandshake } from '../../src/protocols/rtmp/handshake.js';
import { RtmpProtocolError } from '../../src/protocols/rtmp/errors.js';
import { waitFor } from '../helpers/ops.js';
import { startServer, type TestServer } from '../helpers/server.js';

describe('the client side of the RTMP handshake', () => {
  it("completes against Polycast's server handshake, byte by byte, and hands over what follows S2", () => {
    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const client = new ClientHandshake((b) => toServer.push(b));
    const server = new ServerHandshake((b) => toClient.push(b));
    client.start();
    expect(toServer[0]!.length).toBe(1 + HANDSHAKE_SIZE);
    expect(server.push(toServer.shift()!).length).toBe(0);
    expect(server.kind).toBe('simple');
    const s0s1s2 = Buffer.concat([toClient.shift()!, Buffer.from('first chunk')]);
    let rest = Buffer.alloc(0);
    for (const byte of s0s1s2) rest = Buffer.concat([rest, client.push(Buffer.from([byte]))]);
    expect(client.done).toBe(true);
    expect(rest.toString()).toBe('first chunk');
    // C2 echoes S1.
    expect(toServer[0]!.equals(s0s1s2.subarray(1, 1 + HANDSHAKE_SIZE))).toBe(true);
    expect(server.push(toServer.shift()!).length).toBe(0);
    expect(server.done).toBe(true);
  });

  it('names a peer that is not an RTMP server', () => {
    const client = new ClientHandshake(() => undefined);
    expect(() => client.push(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toThrow(RtmpProtocolError);
    expect(() => new ClientHandshake(() => undefined).push(Buffer.from('H'))).toThrow(/version 72 in S0, not 3 \(is this an RTMP server\?\)/);
  });
});

describe('an RTMP pull the origin refuses', () => {
  let origin: TestServer;
  let edge: TestServer;
  afterAll(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  it("logs the origin's reason and keeps retrying", async () => {
    origin = await startServer();
    edge = await startServer(`paths:\n  live/x:\n    source: rtmp://127.0.0.1:${origin.rtmpPort}/live/x\n`);
    await waitFor(() => edge.logs.some((l) => l['msg'] === 'source unreachable, retrying'), 10_000, 'the refusal');
    const line = edge.logs.find((l) => l['msg'] === 'source unreachable, retrying')!;
    expect(line['reason']).toBe(
      'the server refused to play (NetStream.Play.Failed: reading over RTMP is not supported; open /live/x/ for the player or /live/x/ws/nal)',
    );
    expect(line['source']).toBe(`rtmp://127.0.0.1:${origin.rtmpPort}/live/x`);
    await waitFor(() => edge.logs.filter((l) => l['msg'] === 'source still unreachable').length >= 1, 5000, 'a retry');
  });
});
