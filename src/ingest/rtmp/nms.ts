/**
 * The narrow slice of node-media-server 4.x that Polycast uses, typed.
 *
 * We use its RTMP session (handshake, chunking, AMF commands) and its
 * broadcast hub, but not its server: NodeRtmpServer calls `process.exit(1)`
 * when its port is taken, and NodeMediaServer opens a JSON store in ./data
 * and an HTTP server we do not want. So Polycast owns the listening socket
 * and builds sessions itself.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

const require = createRequire(import.meta.url);

/** node-media-server's AVPacket: `data` is the parser's reused buffer, valid for `size` bytes until the next packet. */
export interface NmsPacket {
  codec_type: number;
  codec_id: number;
  flags: number;
  dts: number;
  pts: number;
  size: number;
  data: Buffer;
}

export interface NmsConnectRequest {
  app: string;
  name: string;
  host: string;
  query: Record<string, string | string[] | undefined>;
}

export interface NmsRtmpProtocol {
  onPacketCallback: (packet: NmsPacket) => void;
  onConnectCallback: (request: NmsConnectRequest) => void;
  streamApp: string;
  streamName: string;
  streamId: number;
  parserPacket: { header: { stream_id: number } };
  onPublish(invokeMessage: { streamName: string }): void;
  onPlay(invokeMessage: { streamName: string }): void;
  sendStatusMessage(sid: number, level: string, code: string, description: string): void;
}

export interface NmsBroadcast {
  streamPath: string;
  publisher: NmsSession | null;
  publishGraceMs: number;
  postPlay(session: NmsSession): string | null;
  donePlay(session: NmsSession): void;
}

export interface NmsSession {
  id: string;
  streamHost: string;
  ip: string;
  protocol: string;
  streamPath: string;
  streamApp: string;
  streamName: string;
  streamQuery: Record<string, string | string[] | undefined>;
  isPublisher: boolean;
  inBytes: number;
  sendBuffer(buffer: Buffer): void;
}

export interface NmsRtmpSession extends NmsSession {
  socket: Socket;
  rtmp: NmsRtmpProtocol;
  broadcast: NmsBroadcast;
  onData: (data: Buffer) => void;
  run(): void;
}

interface NmsLogger {
  level: string;
  log(message: string, level?: string): void;
}

interface NmsContext {
  config: Record<string, unknown>;
  sessions: Map<string, NmsSession>;
  broadcasts: Map<string, NmsBroadcast>;
}

export const BroadcastServer = require('node-media-server/src/server/broadcast_server.js') as new (streamPath: string) => NmsBroadcast;
export const RtmpSession = require('node-media-server/src/session/rtmp_session.js') as new (socket: Socket) => NmsRtmpSession;
export const BaseSession = require('node-media-server/src/session/base_session.js') as new () => NmsSession;
export const nmsContext = require('node-media-server/src/core/context.js') as NmsContext;
export const nmsLogger = require('node-media-server/src/core/logger.js') as NmsLogger;

export type LogFn = (level: 'trace' | 'debug' | 'info' | 'warn' | 'error', message: string) => void;

/** Sends the library's console logging (including its banner) to our logger at our level. */
export function routeNmsLogs(log: LogFn): void {
  nmsLogger.level = 'trace';
  nmsLogger.log = (message: string, level = 'info') => {
    const known = level === 'trace' || level === 'debug' || level === 'info' || level === 'warn' || level === 'error';
    // Its "info" lines are per-session chatter Polycast already logs in its own words.
    log(known ? (level === 'info' ? 'debug' : level) : 'debug', message);
  };
}
