import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { httpAuthorize, type HttpAuthorizer } from '../api/http-auth.js';
import { routeStem } from '../api/server.js';
import { apiTypeOf } from '../hooks.js';
import type { RtmpConnInfo } from '../ingest/rtmp/rtmp-server.js';
import type { Connections } from '../limits.js';
import type { PathManager } from '../stream/path-manager.js';
import { SEND_SAMPLE_EVERY, type Reader } from '../stream/reader.js';
import type { Frame } from '../stream/types.js';
import type { Transport } from '../transport.js';
import type { ReaderTotals } from './totals.js';
import { listenOrExplain } from '../web/listen.js';
import { answerErrors, requireResourceTarget, ServerErrorLog } from '../web/http-errors.js';
import { applyReadTimeout, httpServerOptions, limitPendingPerIp } from '../web/http-limits.js';

/** What the metrics are read from, at scrape time. */
export interface MetricsSource {
  readonly paths: PathManager;
  readonly transports: readonly Transport[];
  readonly totals: ReaderTotals;
  rtmpConns(): RtmpConnInfo[];
  readonly connections: Connections;
  authFailures(): Readonly<Record<string, number>>;
  blockedIps(): number;
  /** WebTransport's QUIC handshake outcomes since start; undefined without WebTransport. */
  webTransportHandshakes?(): Readonly<{ accepted: number; retries: number; refused: number; handshakeTimeouts: number }> | undefined;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const wallClockMs = (): number => performance.timeOrigin + performance.now();

/**
 * `metrics: yes`: Prometheus metrics on their own listener. MediaMTX's names
 * where they exist (`paths`, `paths_readers`, `paths_inbound_bytes`,
 * `rtmp_conns`, ...), Polycast's own under `polycast_`.
 */
export class MetricsServer {
  readonly registry = new Registry();
  private readonly latency: Histogram<'transport'>;
  private app: FastifyInstance | undefined;

  constructor(
    private readonly source: MetricsSource,
    private readonly authorize: HttpAuthorizer,
    private readonly log: Logger,
  ) {
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const s = source;

    const pathState = (ready: boolean) => (ready ? 'ready' : 'notReady');
    new Gauge({
      name: 'paths',
      help: 'Paths, by name and state (MediaMTX).',
      labelNames: ['name', 'state'],
      registers: r,
      collect() {
        this.reset();
        for (const p of s.paths.list()) this.set({ name: p.name, state: pathState(p.stream?.ready === true) }, 1);
      },
    });
    new Gauge({
      name: 'paths_readers',
      help: 'Readers of each path, by reader type (MediaMTX).',
      labelNames: ['name', 'state', 'readerType'],
      registers: r,
      collect() {
        this.reset();
        for (const p of s.paths.list()) {
          const state = pathState(p.stream?.ready === true);
          const byType = new Map<string, number>();
          for (const reader of p.readers) byType.set(apiTypeOf(reader.info.protocol), (byType.get(apiTypeOf(reader.info.protocol)) ?? 0) + 1);
          if (byType.size === 0) this.set({ name: p.name, state, readerType: '' }, 0);
          for (const [readerType, n] of byType) this.set({ name: p.name, state, readerType }, n);
        }
      },
    });
    new Gauge({
      name: 'paths_inbound_bytes',
      help: 'Bytes received from the current publisher of each path (MediaMTX).',
      labelNames: ['name', 'state'],
      registers: r,
      collect() {
        this.reset();
        for (const p of s.paths.list()) this.set({ name: p.name, state: pathState(p.stream?.ready === true) }, p.stream?.stats.bytesIn ?? 0);
      },
    });
    new Gauge({
      name: 'paths_outbound_bytes',
      help: "Bytes sent to each path's current readers (MediaMTX).",
      labelNames: ['name', 'state'],
      registers: r,
      collect() {
        this.reset();
        for (const p of s.paths.list()) {
          let bytes = 0;
          for (const reader of p.readers) bytes += reader.stats.bytesSent;
          this.set({ name: p.name, state: pathState(p.stream?.ready === true) }, bytes);
        }
      },
    });
    const rtmpLabels = ['id', 'state', 'path', 'remoteAddr'] as const;
    const rtmp = (name: string, help: string, value: (c: RtmpConnInfo) => number) =>
      new Gauge({
        name,
        help,
        labelNames: rtmpLabels,
        registers: r,
        collect() {
          this.reset();
          for (const c of s.rtmpConns()) this.set({ id: c.id, state: c.state, path: c.path, remoteAddr: c.remoteAddr }, value(c));
        },
      });
    rtmp('rtmp_conns', 'RTMP connections (MediaMTX).', () => 1);
    rtmp('rtmp_conns_inbound_bytes', 'Bytes received on each RTMP connection (MediaMTX).', (c) => c.inboundBytes);
    rtmp('rtmp_conns_outbound_bytes', 'Bytes sent on each RTMP connection (MediaMTX).', (c) => c.outboundBytes);

    // Sessions of every transport that lists them, named like MediaMTX's webrtc_sessions: ws-nal → wsnal_sessions.
    for (const t of source.transports) {
      if (t.apiSessions === undefined) continue;
      const base = `${routeStem(t.name)}_sessions`;
      const list = () => t.apiSessions!();
      const labels = ['id', 'path', 'remoteAddr', 'state'] as const;
      const session = (suffix: string, help: string, value: (x: ReturnType<typeof list>[number]) => number) =>
        new Gauge({
          name: `${base}${suffix}`,
          help,
          labelNames: labels,
          registers: r,
          collect() {
            this.reset();
            for (const x of list()) this.set({ id: x.id, path: x.path, remoteAddr: x.remoteAddr, state: x.state }, value(x));
          },
        });
      session('', `${t.name} sessions.`, () => 1);
      session('_outbound_bytes', `Bytes sent on each ${t.name} session.`, (x) => x.outboundBytes);
      session('_outbound_frames_discarded', `Frames discarded for each ${t.name} session because it fell behind.`, (x) => x.outboundFramesDiscarded);
    }

    const totals = (name: string, help: string, value: (t: ReturnType<ReaderTotals['snapshot']>[number]) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['path', 'transport'],
        registers: r,
        collect() {
          this.reset();
          for (const t of s.totals.snapshot()) this.inc({ path: t.path, transport: t.transport }, value(t));
        },
      });
    totals('polycast_outbound_bytes_total', 'Bytes handed to readers, by path and transport, including readers that left.', (t) => t.bytes);
    totals('polycast_outbound_frames_total', 'Frames handed to readers, by path and transport, including readers that left.', (t) => t.frames);
    totals(
      'polycast_outbound_frames_discarded_total',
      'Frames discarded because a reader fell behind its writeQueueSize, by path and transport.',
      (t) => t.discarded,
    );
    new Counter({
      name: 'polycast_rtwebsocket_abandoned_messages_total',
      help: 'ws-fmp4 RTWebSocket messages abandoned because their deadline passed.',
      registers: r,
      collect() {
        this.reset();
        for (const t of s.transports) {
          const n = (t as { abandonedMessages?: unknown }).abandonedMessages;
          if (typeof n === 'number') this.inc(n);
        }
      },
    });
    new Counter({
      name: 'polycast_webtransport_dropped_groups_total',
      help: 'WebTransport groups (streams) reset because a viewer could not keep up, by transport.',
      labelNames: ['transport'],
      registers: r,
      collect() {
        this.reset();
        for (const t of s.transports) if (typeof t.groupsDropped === 'number') this.inc({ transport: t.name }, t.groupsDropped);
      },
    });
    new Gauge({
      name: 'polycast_snapshot_decoders',
      help: 'Running JPEG snapshot decoders (one ffmpeg per path being polled).',
      registers: r,
      collect() {
        let n = 0;
        for (const t of s.transports) {
          const count = (t as { decoderCount?: unknown }).decoderCount;
          if (typeof count === 'number') n += count;
        }
        this.set(n);
      },
    });
    new Gauge({
      name: 'polycast_connections',
      help: 'Open client connections (RTMP and reader sessions) by type; maxConnections applies to their sum.',
      labelNames: ['type'],
      registers: r,
      collect() {
        this.reset();
        for (const [type, n] of s.connections.types()) this.set({ type }, n);
      },
    });
    new Counter({
      name: 'polycast_webtransport_handshakes_total',
      help: 'QUIC handshakes on the WebTransport port by outcome: accepted, retry (stateless Retry sent under a burst), refused (limits, bad token), timeout (not completed in time).',
      labelNames: ['outcome'],
      registers: r,
      collect() {
        this.reset();
        const h = s.webTransportHandshakes?.();
        if (!h) return;
        this.inc({ outcome: 'accepted' }, h.accepted);
        this.inc({ outcome: 'retry' }, h.retries);
        this.inc({ outcome: 'refused' }, h.refused);
        this.inc({ outcome: 'timeout' }, h.handshakeTimeouts);
      },
    });
    new Counter({
      name: 'polycast_connections_refused_total',
      help: 'Connections refused because maxConnections was reached.',
      registers: r,
      collect() {
        this.reset();
        this.inc(s.connections.refused);
      },
    });
    new Counter({
      name: 'polycast_auth_failures_total',
      help: 'Refused authentications, by action.',
      labelNames: ['action'],
      registers: r,
      collect() {
        this.reset();
        for (const [action, n] of Object.entries(s.authFailures())) this.inc({ action }, n);
      },
    });
    new Gauge({
      name: 'polycast_auth_blocked_ips',
      help: 'IPs currently refused after too many failed authentications.',
      registers: r,
      collect() {
        this.set(s.blockedIps());
      },
    });
    this.latency = new Histogram({
      name: 'polycast_send_latency_seconds',
      help: `Time from a frame reaching the server to a reader handing it to its transport, by transport; one frame in ${SEND_SAMPLE_EVERY} per reader is sampled.`,
      labelNames: ['transport'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
  }

  /** For `Path.setSendObserver`: records the ingest-to-send latency of a sampled frame. */
  readonly observe = (reader: Reader, frame: Frame): void => {
    this.latency.observe({ transport: reader.info.protocol }, Math.max(0, wallClockMs() - frame.receivedAt) / 1000);
  };

  /** `readTimeoutMs`: how long a connection may take to deliver a request, or sit idle between requests. */
  async start(host: string, port: number, readTimeoutMs = 10_000): Promise<AddressInfo> {
    const log = this.log.child({ module: 'metrics' });
    const app = Fastify({
      loggerInstance: log as unknown as FastifyBaseLogger,
      logController: new ServerErrorLog(),
      http: httpServerOptions(),
    });
    applyReadTimeout(app.server, readTimeoutMs);
    limitPendingPerIp(app.server, log, 'metrics');
    requireResourceTarget(app);
    answerErrors(app);
    app.addHook('onRequest', httpAuthorize(this.authorize, 'metrics'));
    app.get('/metrics', async (_req, reply) => reply.type(this.registry.contentType).send(await this.registry.metrics()));
    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found; metrics are at /metrics' }));
    const address = await listenOrExplain(app, 'metrics', host, port, 'set metricsAddress');
    this.app = app;
    return address;
  }

  /** A reload changed `readTimeout`: applies at once, to connections already waiting too. */
  setReadTimeout(ms: number): void {
    if (this.app !== undefined) applyReadTimeout(this.app.server, ms);
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    await app?.close();
  }
}
