/**
 * A path's `source`: `publisher` (clients push the stream) or the URL of a
 * server Polycast pulls it from (docs/edges.md). Parsing is shared by the
 * configuration checks and by the pull clients, so what loads is what runs.
 */
import { MOQT_DRAFTS, type MoqtDraft } from '../protocols/moqt/version.js';

/** Schemes Polycast can pull, for messages and the JSON Schema. */
export const PULL_SCHEMES = ['rtmp', 'rtmps', 'ws', 'wss', 'polycast', 'polycasts', 'moqt'] as const;

/** The `source` value rule for editors: `publisher` or a URL of a scheme Polycast pulls; the resolver has the better words. */
export const SOURCE_PATTERN = `^(?:publisher|(?:${PULL_SCHEMES.join('|')})://.+)$`;

export const SOURCE_CHOICES_TEXT = `publisher, or a URL: ${PULL_SCHEMES.map((s) => `${s}://`).join(', ')}`;

/** Polycast's default webAddress port, where `polycast://` points when the URL names none. */
const POLYCAST_DEFAULT_PORT = 4443;
/** As MediaMTX: RTMPS defaults to 1936 when the URL names no port. */
const RTMP_DEFAULT_PORT = { 'rtmp:': 1935, 'rtmps:': 1936 } as const;
const WS_NAL_SUFFIX = '/ws/nal';
/** The MOQT URI default (draft-ietf-moq-transport §6.1.2), as MediaMTX uses it: QUIC is always TLS. */
const MOQT_DEFAULT_PORT = 443;
/** Query parameters of a `moqt://` URL that are Polycast's, not the origin's. */
const MOQT_FINGERPRINT = 'fingerprint';
const MOQT_LAYOUT = 'layout';
const MOQT_DRAFT = 'draft';

/**
 * Where a moq-transport origin keeps a path: `polycast`, the endpoint
 * `/moqt` with the path as the track namespace and a `catalog` track; or
 * `mediamtx`, the path as the WebTransport request path with an empty
 * namespace and a `.catalog` track (MediaMTX's `moqTransport: webtransport`).
 */
export type MoqtLayout = 'polycast' | 'mediamtx';

export type SourceTarget =
  | {
      readonly protocol: 'rtmp';
      readonly tls: boolean;
      readonly host: string;
      readonly port: number;
      /** connect's `app` (the URL's first path segment). */
      readonly app: string;
      /** play's stream name: the rest of the path, with the query (and the URL's credentials as `user`/`pass`). */
      readonly streamName: string;
      readonly tcUrl: string;
      /** The URL without credentials, for logs and messages. */
      readonly display: string;
    }
  | {
      readonly protocol: 'ws-nal';
      /** ws:// or wss:// URL of the origin's `/<path>/ws/nal`, credentials included. */
      readonly url: string;
      readonly display: string;
    }
  | MoqtTarget;

/** A `moqt://` origin: IETF moq-transport over WebTransport (docs/edges.md). */
export interface MoqtTarget {
  readonly protocol: 'moqt';
  readonly host: string;
  readonly port: number;
  /** The WebTransport request path, with the URL's query minus Polycast's own parameters (a `token` goes to the origin). */
  readonly requestPath: string;
  readonly namespace: readonly string[];
  readonly catalogTrack: string;
  readonly layout: MoqtLayout;
  /** Pinned SHA-256 of the origin's certificate (`?fingerprint=`), lower-case hex; undefined: the system's CAs. */
  readonly fingerprint: string | undefined;
  /** `Basic …` from the URL's credentials, sent with the CONNECT request. */
  readonly authorization: string | undefined;
  /** `?draft=NN`: offer only this draft; undefined: every draft Polycast speaks, newest first. */
  readonly draft: MoqtDraft | undefined;
  readonly display: string;
}

/** True when `source` names a server to pull from rather than `publisher`. */
export const isPullSource = (source: string): boolean => source !== 'publisher' && source !== '';

/**
 * `$G1`, `$G2`... (groups of the `~regex` that matched) and `$MTX_PATH` (the
 * path's name) in a source URL, as MediaMTX expands its proxy sources.
 */
export function expandSource(source: string, pathName: string, groups: readonly (string | undefined)[]): string {
  return source.replace(/\$(MTX_PATH|G(\d+))/g, (whole, name: string, index: string | undefined) => {
    if (name === 'MTX_PATH') return pathName;
    const group = groups[Number(index) - 1];
    return group ?? whole;
  });
}

/** A URL as it may be shown in logs and the API: no user, password or query (which may carry a token). */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** What Polycast connects to for a source URL, or why it cannot pull it. */
export function parseSource(source: string): SourceTarget | { error: string } {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    return { error: `'${source}' is not a supported source (${SOURCE_CHOICES_TEXT})` };
  }
  if (url.hostname === '') return { error: `'${displayUrl(url)}' names no host` };
  switch (url.protocol) {
    case 'rtmp:':
    case 'rtmps:':
      return rtmpTarget(url);
    case 'ws:':
    case 'wss:':
      if (!url.pathname.endsWith(WS_NAL_SUFFIX) || url.pathname.length <= WS_NAL_SUFFIX.length + 1) {
        return { error: `'${displayUrl(url)}' is not a Polycast ws-nal endpoint: write ${url.protocol}//host:port/<path>/ws/nal, or polycast://host:port/<path>` };
      }
      return { protocol: 'ws-nal', url: url.href, display: displayUrl(url) };
    case 'polycast:':
    case 'polycasts:': {
      const path = url.pathname.replace(/\/+$/, '');
      if (path === '' || path === '/') return { error: `'${displayUrl(url)}' names no path: write ${url.protocol}//host:port/<path>` };
      const ws = new URL(`${url.protocol === 'polycasts:' ? 'wss' : 'ws'}://${url.host}${path}${WS_NAL_SUFFIX}${url.search}`);
      ws.username = url.username;
      ws.password = url.password;
      if (url.port === '') ws.port = String(POLYCAST_DEFAULT_PORT);
      return { protocol: 'ws-nal', url: ws.href, display: displayUrl(ws) };
    }
    case 'moqt:':
      return moqtTarget(url);
    default:
      return { error: `Polycast cannot pull '${url.protocol.slice(0, -1)}' sources (it pulls ${PULL_SCHEMES.join(', ')})` };
  }
}

function rtmpTarget(url: URL): SourceTarget | { error: string } {
  const segments = url.pathname.split('/').filter((s) => s !== '');
  if (segments.length < 2) return { error: `'${displayUrl(url)}' needs an app and a stream name: ${url.protocol}//host[:port]/app/stream` };
  const tls = url.protocol === 'rtmps:';
  const port = url.port === '' ? RTMP_DEFAULT_PORT[url.protocol as 'rtmp:' | 'rtmps:'] : Number(url.port);
  const [app, ...rest] = segments.map((s) => decodeURIComponent(s));
  const query = new URLSearchParams(url.search);
  // Polycast and MediaMTX servers take RTMP credentials from the stream name's query.
  if (url.username !== '') query.set('user', decodeURIComponent(url.username));
  if (url.password !== '') query.set('pass', decodeURIComponent(url.password));
  const search = query.toString();
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return {
    protocol: 'rtmp',
    tls,
    host,
    port,
    app: app!,
    streamName: `${rest.join('/')}${search === '' ? '' : `?${search}`}`,
    tcUrl: `${url.protocol}//${url.host}/${app}`,
    display: displayUrl(url),
  };
}

function moqtTarget(url: URL): SourceTarget | { error: string } {
  const segments = url.pathname.split('/').filter((s) => s !== '');
  if (segments.length === 0) return { error: `'${displayUrl(url)}' names no path: write moqt://host[:port]/<path>` };
  const query = new URLSearchParams(url.search);
  const layout = query.get(MOQT_LAYOUT) ?? 'polycast';
  if (layout !== 'polycast' && layout !== 'mediamtx') return { error: `'${displayUrl(url)}': layout '${layout.slice(0, 20)}' is not 'polycast' or 'mediamtx'` };
  const pin = query.get(MOQT_FINGERPRINT);
  let fingerprint: string | undefined;
  if (pin !== null) {
    fingerprint = pin.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(fingerprint)) return { error: `'${displayUrl(url)}': fingerprint is not a SHA-256 (64 hex digits, as /certificate.sha256 serves it)` };
  }
  const draftText = query.get(MOQT_DRAFT);
  const draft = draftText === null ? undefined : MOQT_DRAFTS.find((d) => String(d) === draftText);
  if (draftText !== null && draft === undefined) return { error: `'${displayUrl(url)}': draft '${draftText.slice(0, 10)}' is not one Polycast speaks (${MOQT_DRAFTS.join(', ')})` };
  query.delete(MOQT_LAYOUT);
  query.delete(MOQT_FINGERPRINT);
  query.delete(MOQT_DRAFT);
  const search = query.toString();
  let path: string[];
  try {
    path = segments.map((s) => decodeURIComponent(s));
  } catch {
    return { error: `'${displayUrl(url)}': the path is not valid percent-encoding` };
  }
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  return {
    protocol: 'moqt',
    host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === '' ? MOQT_DEFAULT_PORT : Number(url.port),
    requestPath: `${layout === 'polycast' ? '/moqt' : url.pathname.replace(/\/+$/, '')}${search === '' ? '' : `?${search}`}`,
    namespace: layout === 'polycast' ? path : [],
    catalogTrack: layout === 'polycast' ? 'catalog' : '.catalog',
    layout,
    fingerprint,
    authorization: user === '' && pass === '' ? undefined : `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
    draft,
    display: displayUrl(url),
  };
}
