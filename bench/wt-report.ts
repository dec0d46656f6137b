/** The WebTransport fan-out section of docs/benchmarks.md: rows, method and targets. */
import type { Ngtcp2FloorResult } from './ngtcp2-floor.js';
import type { QuicFloorResult, QuicheFloorResult } from './quiche-floor.js';
import type { WtFanoutResult } from './wt-fanout.js';

export interface WtVerdict {
  target: string;
  status: 'met' | 'not met' | 'not measured';
  measured: string;
}

const KIND_LABEL: Record<WtFanoutResult['kind'], string> = {
  'wt-raw': 'wt-raw (moq-lite, /moq)',
  'wt-fmp4': 'wt-fmp4 (/<path>/wt/fmp4)',
  'ws-nal': 'ws-nal (WebSocket)',
};

export const WT_HEADERS = [
  'Transport',
  'Sessions',
  'p50 ms',
  'p99 ms',
  'Server cores',
  'm/session',
  '× ws-nal',
  'RSS/session KiB',
  'Egress Mbit/s',
  'Mbit/s per core',
  'µs/packet',
  'Failed/stalled',
  'Keyframes missed',
  'Load clients (cores)',
  'Machine cores',
  'Status',
  'Notes',
];

const fmt = (v: number | undefined, digits = 0): string => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

/** Millicores per session over ws-nal's per reader at the same count in the same run. */
export function wsNalRatio(results: WtFanoutResult[], r: WtFanoutResult): number | undefined {
  if (r.kind === 'ws-nal') return undefined;
  const ws = results.find((x) => x.kind === 'ws-nal' && x.sessions === r.sessions);
  if (ws?.millicoresPerSession === undefined || r.millicoresPerSession === undefined || ws.millicoresPerSession === 0) return undefined;
  return r.millicoresPerSession / ws.millicoresPerSession;
}

/** A phase that collapsed with both cores busy ran out of machine (server and lean clients share it), not necessarily of server. */
function outOfMachine(r: WtFanoutResult): boolean {
  return r.status !== 'ok' && (r.machineCores ?? 0) >= 1.85;
}

const label = (r: WtFanoutResult): string => (r.quic === undefined ? KIND_LABEL[r.kind] : `${KIND_LABEL[r.kind]} on ${r.quic}`);

export function wtRows(results: WtFanoutResult[]): string[][] {
  return results.map((r) => [
    label(r),
    String(r.sessions),
    fmt(r.p50, 1),
    fmt(r.p99, 1),
    fmt(r.cores, 2),
    fmt(r.millicoresPerSession, 2),
    fmt(wsNalRatio(results, r), 1),
    fmt(r.rssKiBPerSession, 0),
    fmt(r.egressMbps, 0),
    fmt(r.egressMbpsPerCore, 0),
    fmt(r.serverUsPerPacket, 1),
    `${r.failed}/${r.stalled}`,
    r.expectedKeyframes > 0 ? `${r.missedKeyframes} of ${r.expectedKeyframes}` : '—',
    `${r.loadClients ?? 1} (${fmt(r.clientCores, 2)})`,
    fmt(r.machineCores, 2),
    r.status,
    [...(outOfMachine(r) ? ['the machine ran out (both cores busy)'] : []), ...r.notes].join('; '),
  ]);
}

export const WT_METHOD =
  'One Polycast with WebTransport on (`startServer(…, { webTransport: true })`), live with the bench clip; N lean WebTransport sessions ' +
  '(`bench/wt-client.ts`) on the client mode of `native/quic-ngtcp2` (its own socket, read with `recvmmsg` and `UDP_GRO`, so the server is not ' +
  "billed for splitting its GSO sends back into packets on loopback) in separate load-client processes, one per 250 sessions (the server's own QUIC stack is " +
  "ngtcp2, `native/quic-ngtcp2`; the *on quiche* row runs wt-raw once more at 200 sessions on the server's other stack, quiche): `wt-raw` subscribes to the " +
  "path's video and audio over moq-lite at `/moq` and stamps each video group's first frame; `wt-fmp4` reads `/<path>/wt/fmp4` and stamps " +
  "each keyframe segment. Sessions answer after at most 10 packets or when a read finds no more (about one ACK per 5 packets here: one per burst, as a browser's ACK decimation gives on a path this short; an ACK per packet doubles the server's cost: " +
  '[webtransport-egress.md](webtransport-egress.md)). Latency, failed/stalled sessions, missed keyframes and the collapse rules are those of the ' +
  'WebSocket fan-out above; the window is 15 s after 4 s of warm-up. *m/session* is server cores ÷ sessions × 1000; *× ws-nal* divides it by ' +
  "ws-nal's per reader at the same count in this run (ws-nal rows below, same timing); *Egress* is the UDP (or TCP) payload the sessions " +
  "received; *µs/packet* is the server's CPU above idle per QUIC packet received. A count is run only if the one before held. The load " +
  'clients decrypt every packet the server encrypts and cost about as much as the server: on this 2-core machine they share the cores with it, ' +
  'so a collapse with *Machine cores* near 2 says the machine ran out, not that the server did.';

export const SINGLE_HEADERS = ['Transport', 'Egress Mbit/s', 'Server cores', 'Idle cores', 'Mbit/s per core', 'Mbit/s per core above idle', 'µs/packet', 'p50 ms', 'p99 ms', 'Status', 'Notes'];

export function singleRows(results: WtFanoutResult[]): string[][] {
  return results.map((r) => [
    KIND_LABEL[r.kind],
    fmt(r.egressMbps, 1),
    fmt(r.cores, 3),
    fmt(r.idleCores, 3),
    fmt(r.egressMbpsPerCore, 0),
    fmt(r.egressMbpsPerCoreAboveIdle, 0),
    fmt(r.serverUsPerPacket, 1),
    fmt(r.p50, 1),
    fmt(r.p99, 1),
    r.status,
    r.notes.join('; '),
  ]);
}

export function singleMethod(kbps: number): string {
  return (
    `One session per transport, each in its own phase, of a ${kbps / 1000} Mbit/s stream (the bench clip's picture and sound, ` +
    `encoded at ${kbps / 1000} Mbit/s, 16 s looped), timed and measured as above. *Idle cores* is the server live with this stream and ` +
    'no session (RTMP ingest; for wt-fmp4 also the muxer and its timeline probe session); *above idle* divides the egress by the cores ' +
    'the session added, which is what the transport costs per bit sent to one viewer.'
  );
}

/** Packets a second one session of the fan-out received, from the largest phase of the kind that measured them. */
function packetsPerSession(results: readonly WtFanoutResult[]): number | undefined {
  const r = results.filter((x) => x.kind === 'wt-raw' && x.quic === undefined && x.egressPacketsPerSecond !== undefined && x.status === 'ok').at(-1);
  return r === undefined ? undefined : r.egressPacketsPerSecond! / r.sessions;
}

/** What quiche's binding alone would cost one session of the fan-out, in ws-nal readers at `count` of this run. */
function floorAgainstWsNal(floor: QuicFloorResult, results: readonly WtFanoutResult[], count: number): { mc: number; ratio: number | undefined; count: number } | undefined {
  const pps = packetsPerSession(results);
  if (pps === undefined) return undefined;
  const mc = (floor.totalUs * pps) / 1000;
  const ws = results.find((x) => x.kind === 'ws-nal' && x.sessions === count)?.millicoresPerSession;
  return { mc, ratio: ws === undefined || ws === 0 ? undefined : mc / ws, count };
}

export function floorParagraph(floor: QuicheFloorResult, results: readonly WtFanoutResult[]): string {
  const at = floorAgainstWsNal(floor, results, 200) ?? floorAgainstWsNal(floor, results, 50);
  return (
    `**quiche's binding alone** (\`bench/quiche-floor.ts\`, this run; quiche is the server's QUIC stack only where native/quic-ngtcp2 is not built, and the *on quiche* row above): a server and a client connection in one process, configured as ` +
    'the WebTransport server and the lean client, packets passed in memory, the server writing 10.4 KB frames on a stream and the client ' +
    `answering every 10th packet; only the server's binding calls are timed. Per server packet (${fmt(floor.packetBytes, 0)} B): ` +
    `\`send\` ${fmt(floor.sendUs, 2)} µs, reading ACKs ${fmt(floor.recvUs, 2)}, \`streamSend\` ${fmt(floor.streamSendUs, 2)}, \`timeout\` ` +
    `${fmt(floor.timeoutUs, 2)}: **${fmt(floor.totalUs, 2)} µs**, against ${fmt(floor.crossingUs, 2)} µs for a call that returns at once. ` +
    (at === undefined
      ? ''
      : `At the packets a fan-out session received in this run, that floor is ${fmt(at.mc, 2)} millicores per session` +
        (at.ratio === undefined ? '' : `, ${at.ratio.toFixed(1)} × a ws-nal reader at ${at.count}, before any socket, timer or Polycast code`) +
        '.')
  );
}

export function ngtcp2FloorParagraph(floor: Ngtcp2FloorResult, results: readonly WtFanoutResult[]): string {
  const at = floorAgainstWsNal(floor, results, 200) ?? floorAgainstWsNal(floor, results, 50);
  const server = results.filter((x) => x.kind === 'wt-raw' && x.quic === undefined && x.serverUsPerPacket !== undefined && x.status === 'ok').at(-1);
  return (
    `**The server's QUIC stack alone** (\`bench/ngtcp2-floor.ts\`, this run): native/quic-ngtcp2's server and client connections in one process, ` +
    `${floor.connections} sessions sent 10.4 KB frames in turn as the fan-out sends them, packets passed in memory, each client answering every 10th packet; ` +
    `only the server's calls are timed. Per server packet (${fmt(floor.packetBytes, 0)} B): \`writePackets\` ${fmt(floor.sendUs, 2)} µs ` +
    `(building, encrypting and copying the packets of a frame in one call), reading ACKs ${fmt(floor.recvUs, 2)}, \`streamSend\` ${fmt(floor.streamSendUs, 2)}: ` +
    `**${fmt(floor.totalUs, 2)} µs**` +
    (server?.serverUsPerPacket === undefined ? '' : `, against ${fmt(server.serverUsPerPacket, 1)} µs of server CPU per packet in the fan-out at ${server.sessions} (socket, kernel, event loop and Polycast's JavaScript on top)`) +
    '. ' +
    (at === undefined
      ? ''
      : `At the packets a fan-out session received, the stack alone is ${fmt(at.mc, 2)} millicores per session` +
        (at.ratio === undefined ? '' : `, ${at.ratio.toFixed(1)} × a ws-nal reader at ${at.count}`) +
        '. ') +
    `After ${floor.idleWakeups} of ${floor.bursts} frames the connection still wanted a timer within a millisecond (ngtcp2's pacing gap is deferred when nothing is left queued).`
  );
}

export function wtVerdicts(results: WtFanoutResult[], single: readonly WtFanoutResult[] = []): WtVerdict[] {
  const out: WtVerdict[] = [];
  const at200 = results.filter((r) => r.sessions === 200 && r.kind !== 'ws-nal' && r.quic === undefined);
  if (at200.length === 0) {
    const reached = results.filter((r) => r.kind !== 'ws-nal');
    const best = reached.at(-1);
    out.push({
      target: 'WebTransport CPU per session ≤ 2 × ws-nal per reader at 200 sessions',
      status: 'not measured',
      measured: best ? `no WebTransport phase at 200 (the last held at ${best.sessions})` : 'phase not run',
    });
  } else {
    const onQuiche = results.find((r) => r.sessions === 200 && r.kind === 'wt-raw' && r.quic === 'quiche');
    const quicheRatio = onQuiche === undefined ? undefined : wsNalRatio(results, onQuiche);
    const boundNote = quicheRatio === undefined ? '' : `; on quiche ${fmt(onQuiche!.millicoresPerSession, 2)} m/session = ${quicheRatio.toFixed(1)} × ws-nal`;
    for (const r of at200) {
      const ratio = wsNalRatio(results, r);
      out.push({
        target: `${r.kind} CPU per session ≤ 2 × ws-nal per reader at 200 sessions`,
        status: ratio === undefined ? 'not measured' : ratio <= 2 && r.status === 'ok' ? 'met' : 'not met',
        measured:
          ratio === undefined
            ? 'no ws-nal phase at 200'
            : `${fmt(r.millicoresPerSession, 2)} m/session = ${ratio.toFixed(1)} × ws-nal, ${r.status}${outOfMachine(r) ? ' (the machine ran out)' : ''}${boundNote}`,
      });
    }
  }
  const raw1000 = results.find((r) => r.kind === 'wt-raw' && r.quic === undefined && r.sessions === 1000);
  const lastRaw = results.filter((r) => r.kind === 'wt-raw' && r.quic === undefined).at(-1);
  out.push(
    raw1000 === undefined
      ? {
          target: '1,000 wt-raw sessions held, p99 ≤ 100 ms, none failed',
          status: 'not measured',
          measured: lastRaw ? `wt-raw stopped at ${lastRaw.sessions} sessions (${lastRaw.status}, p99 ${fmt(lastRaw.p99, 0)} ms${outOfMachine(lastRaw) ? ', the machine ran out' : ''})` : 'phase not run',
        }
      : {
          target: '1,000 wt-raw sessions held, p99 ≤ 100 ms, none failed',
          status: raw1000.status === 'ok' && (raw1000.p99 ?? Infinity) <= 100 && raw1000.failed === 0 ? 'met' : 'not met',
          measured: `p99 ${fmt(raw1000.p99, 0)} ms, ${raw1000.failed} failed, ${raw1000.status}`,
        },
  );
  // wt-raw is what Chromium and Firefox play; wt-fmp4's idle server already runs its timeline probe, a session as costly as the one measured.
  for (const r of single.filter((x) => x.kind === 'wt-raw')) {
    const perCore = r.egressMbpsPerCoreAboveIdle;
    out.push({
      target: `single-session egress ≥ 400 Mbit/s per server core (${r.kind})`,
      status: perCore === undefined || r.status !== 'ok' ? 'not measured' : perCore >= 400 ? 'met' : 'not met',
      measured: `${fmt(perCore, 0)} Mbit/s per core above the live server with no session (${fmt(r.egressMbpsPerCore, 0)} counting the ingest of the same ${fmt(r.egressMbps, 0)} Mbit/s); ${r.status}`,
    });
  }
  const perCore = results.filter((r) => r.kind !== 'ws-nal' && r.quic === undefined && r.status === 'ok' && r.egressMbpsPerCore !== undefined);
  const bestPerCore = perCore.reduce<WtFanoutResult | undefined>((a, b) => (a === undefined || (b.egressMbpsPerCore ?? 0) > (a.egressMbpsPerCore ?? 0) ? b : a), undefined);
  out.push(
    bestPerCore === undefined
      ? { target: 'WebTransport fan-out egress ≥ 400 Mbit/s per server core', status: 'not measured', measured: 'no WebTransport phase held' }
      : {
          target: 'WebTransport fan-out egress ≥ 400 Mbit/s per server core',
          status: (bestPerCore.egressMbpsPerCore ?? 0) >= 400 ? 'met' : 'not met',
          measured: `${fmt(bestPerCore.egressMbpsPerCore, 0)} Mbit/s per core (${bestPerCore.kind} × ${bestPerCore.sessions}, fan-out of the 2.7 Mbit/s stream)`,
        },
  );
  return out;
}
