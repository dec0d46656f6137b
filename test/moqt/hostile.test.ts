/**
 * What a misbehaving moq-transport client gets from /moqt: garbage, lengths
 * past the limits, unknown message types and floods before SETUP close its
 * session with PROTOCOL_VIOLATION (0x3) and a reason; a subscriber that
 * stops reading loses old groups instead of holding the server's memory,
 * and costs no other session anything.
 */
import { describe, expect, it } from 'vitest';
import { MoqtSessionCode } from '../../src/protocols/moqt/errors.js';
import type { MoqtTransport } from '../../transports/moqt/server.js';
import { liveServerFixture, until } from '../moq/live-server.js';
import { connectWebTransport, type NodeWebTransport } from '../moq/wt-client.js';
import { IetfTestClient } from './ietf-client.js';

const fx = liveServerFixture('paths:\n  live/x:\n', 'live/x');
const moqt = (): MoqtTransport => fx.srv.server.transports.find((t) => t.name === 'moqt') as MoqtTransport;
const url = (): string => fx.srv.wtUrl('/moqt');

/** Draft 16's CLIENT_SETUP with no parameters. */
const CLIENT_SETUP_16 = [0x20, 0x00, 0x01, 0x00];
/** Draft 17's SETUP (type 0x2f00 as a leading-ones varint) with no options. */
const SETUP_17 = [0xaf, 0x00, 0x00, 0x00];

async function open(draft: number | undefined): Promise<NodeWebTransport> {
  const wt = await connectWebTransport(url(), { protocols: draft === undefined ? [] : [`moqt-${draft}`] });
  await wt.ready;
  return wt;
}

async function sendBidi(wt: NodeWebTransport, bytes: number[]): Promise<void> {
  const stream = await wt.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(Uint8Array.from(bytes));
  writer.releaseLock();
}

async function sendUni(wt: NodeWebTransport, bytes: number[]): Promise<void> {
  const writer = (await wt.createUnidirectionalStream()).getWriter();
  await writer.write(Uint8Array.from(bytes));
  writer.releaseLock();
}

describe('hostile input', () => {
  it('closes a draft-16 session whose control stream opens with garbage', async () => {
    const before = moqt().stats.protocolErrors;
    const wt = await open(16);
    await sendBidi(wt, [0x05, 0x00, 0x03, 0xde, 0xad, 0xbe]);
    const closed = await wt.closed;
    expect(closed.closeCode).toBe(MoqtSessionCode.ProtocolViolation);
    expect(closed.reason).toMatch(/control stream opened with message 0x5/);
    expect(moqt().stats.protocolErrors).toBe(before + 1);
  });

  it('refuses a declared length past the limit before any of the body arrives', async () => {
    const wt = await open(16);
    // CLIENT_SETUP claiming 65535 bytes, of which none are sent: waiting for them would hold the session open.
    await sendBidi(wt, [0x20, 0xff, 0xff]);
    const closed = await wt.closed;
    expect(closed.closeCode).toBe(MoqtSessionCode.ProtocolViolation);
    expect(closed.reason).toMatch(/65535 bytes \(limit 4096\)/);
  });

  it('closes a draft-16 session on an unknown control message type after SETUP', async () => {
    const wt = await open(16);
    await sendBidi(wt, [...CLIENT_SETUP_16, 0x3e, 0x00, 0x00]);
    const closed = await wt.closed;
    expect(closed.closeCode).toBe(MoqtSessionCode.ProtocolViolation);
    expect(closed.reason).toMatch(/unknown control message type 0x3e/);
  });

  it('closes a draft-16 session that skips a Request ID', async () => {
    const wt = await open(16);
    // SUBSCRIBE with Request ID 4 where 0 is due (namespace live/x, track video, no parameters).
    const name = (s: string): number[] => [s.length, ...Buffer.from(s)];
    const body = [0x04, 0x02, ...name('live'), ...name('x'), ...name('video'), 0x00];
    await sendBidi(wt, [...CLIENT_SETUP_16, 0x03, 0x00, body.length, ...body]);
    const closed = await wt.closed;
    expect(closed.closeCode).toBe(MoqtSessionCode.InvalidRequestId);
    expect(closed.reason).toMatch(/request id 4, expected 0/);
  });

  it('closes a draft-19 session on a request stream of unknown type', async () => {
    const wt = await open(19);
    await sendBidi(wt, [0x3e, 0x00, 0x00]);
    const closed = await wt.closed;
    expect(closed.closeCode).toBe(MoqtSessionCode.ProtocolViolation);
    expect(closed.reason).toMatch(/unknown request type 0x3e/);
  });

  it('closes a draft-17 session whose SUBSCRIBE is truncated', async () => {
    const wt = await open(17);
    await sendUni(wt, SETUP_17);
    // Request ID 0, Required Request ID Delta 0, then nothing where the namespace should be.
    await sendBidi(wt, [0x03, 0x00, 0x02, 0x00, 0x00]);
    const closed = await wt.closed;
    expect(closed.closeCode).toBe(MoqtSessionCode.ProtocolViolation);
    expect(closed.reason).toMatch(/truncated/);
  });

  it('closes a draft-17 session whose first unidirectional stream is not SETUP', async () => {
    const wt = await open(17);
    await sendUni(wt, [0x39, 0x01, 0x00, 0x00, 0x01, 0x00]);
    const closed = await wt.closed;
    expect(closed.closeCode).toBe(MoqtSessionCode.ProtocolViolation);
    expect(closed.reason).toMatch(/before SETUP/);
  });

  it('bounds what a draft-19 client can make the server hold before its SETUP', async () => {
    const wt = await open(19);
    for (let i = 0; i < 9; i++) await sendBidi(wt, [0x03, 0x00, 0x01, 0x00]);
    const closed = await wt.closed;
    expect(closed.closeCode).toBe(MoqtSessionCode.ProtocolViolation);
    expect(closed.reason).toMatch(/too many requests before SETUP/);
  });

  it('ends a session that offers no moqt subprotocol', async () => {
    const wt = await open(undefined);
    const closed = await wt.closed;
    expect(closed.closeCode).toBe(MoqtSessionCode.ProtocolViolation);
    expect(closed.reason).toMatch(/moqt-16/);
  });
});

describe('a subscriber that stops reading', () => {
  it('loses old groups on its own session while another keeps receiving every group', async () => {
    const slow = await IetfTestClient.connect(url(), 19, { reading: false, window: 16 * 1024 });
    const healthy = await IetfTestClient.connect(url(), 19);
    try {
      const stalled = await slow.subscribe('live/x', 'video');
      expect('ok' in stalled).toBe(true);
      const slowSession = [...moqt().sessions].find((s) => s.subscriptionCount === 1)!;
      await until(() => slowSession.groupsDropped >= 2, 'the stalled subscription to drop groups');

      const fine = await healthy.subscribe('live/x', 'video');
      if (!('ok' in fine)) throw new Error('refused');
      const groups = await healthy.nextGroups(fine.ok.trackAlias, 3);
      for (let i = 1; i < groups.length; i++) expect(groups[i]!.group).toBe(groups[i - 1]!.group + 1);
      expect(slowSession.subscriptionCount).toBe(1);
    } finally {
      slow.close();
      healthy.close();
    }
  });
});
