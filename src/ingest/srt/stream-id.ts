/**
 * The SRT stream id as MediaMTX reads it: `publish:<path>[:<user>:<pass>][:<query>]`
 * (or `read:` …), and the standard access-control form of Haivision's
 * document, `#!::r=<path>,m=publish,u=<user>,s=<pass>`.
 */

export interface StreamIdRequest {
  readonly mode: 'publish' | 'read';
  readonly path: string;
  readonly user: string;
  readonly pass: string;
  /** Extra `key=value&…` parameters, as a query string without `?`. */
  readonly query: string;
}

/** The longest stream id libsrt sends (SRT_STREAMID_MAX). */
export const MAX_STREAM_ID_LENGTH = 512;

export function parseStreamId(raw: string): StreamIdRequest | { error: string } {
  if (raw.length > MAX_STREAM_ID_LENGTH) return { error: `stream id longer than ${MAX_STREAM_ID_LENGTH} characters` };
  if (raw.startsWith('#!::')) return parseStandard(raw.slice(4));
  const parts = raw.split(':');
  if (parts.length < 2 || parts.length > 5) {
    return { error: "stream id must be 'publish:<path>', 'publish:<path>:<user>:<pass>' or '#!::r=<path>,m=publish'" };
  }
  const mode = modeOf(parts[0]!);
  if (mode === undefined) return { error: `stream id action '${parts[0]!.slice(0, 32)}' is neither publish nor read` };
  const path = parts[1]!;
  if (path === '') return { error: 'stream id names no path' };
  const withCredentials = parts.length >= 4;
  return {
    mode,
    path,
    user: withCredentials ? parts[2]! : '',
    pass: withCredentials ? parts[3]! : '',
    query: parts.length === 3 ? parts[2]! : (parts[4] ?? ''),
  };
}

function modeOf(text: string): 'publish' | 'read' | undefined {
  if (text === 'publish') return 'publish';
  if (text === 'read' || text === 'request') return 'read';
  return undefined;
}

function parseStandard(body: string): StreamIdRequest | { error: string } {
  const fields = new Map<string, string>();
  for (const item of body.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return { error: `stream id item '${item.slice(0, 32)}' is not key=value` };
    fields.set(item.slice(0, eq), item.slice(eq + 1));
  }
  const path = fields.get('r') ?? '';
  if (path === '') return { error: "stream id names no resource (r=<path>)" };
  // The standard form defaults to `request` (reading) when m= is absent.
  const mode = modeOf(fields.get('m') ?? 'request');
  if (mode === undefined) return { error: `stream id mode '${fields.get('m')!.slice(0, 32)}' is neither publish nor request` };
  return { mode, path, user: fields.get('u') ?? '', pass: fields.get('s') ?? '', query: '' };
}
