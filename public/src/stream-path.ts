/** Stream paths and the URLs derived from them. Pure: runs in Node tests too. */

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** `/live/cam1/` → `live/cam1`: the page at `/<path>/` plays `<path>`. */
export function streamPathFromPathname(pathname: string): string {
  return pathname
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map(decodeSegment)
    .join('/');
}

export function encodeStreamPath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export interface StreamLocation {
  /** Origin of the server, e.g. `https://host:4443`. */
  readonly origin: string;
  readonly path: string;
}

/** `src` is a path (`/live/cam1`) or a URL on another server (`https://host:4443/live/cam1`), resolved like a link. */
export function resolveStream(src: string, baseUrl: string): StreamLocation {
  const url = new URL(src, baseUrl);
  return { origin: url.origin, path: streamPathFromPathname(url.pathname) };
}

export function webSocketUrl(stream: StreamLocation, endpoint: string): string {
  const url = new URL(stream.origin);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `/${encodeStreamPath(stream.path)}/${endpoint}`;
  return url.href;
}

/** The player page of a path, as linked from the index. */
export function playerPageHref(path: string): string {
  return `/${encodeStreamPath(path)}/`;
}

/** `GET /<path>/snapshot.jpg?quality=&width=`: the JPEG transport's one request. */
export function snapshotUrl(stream: StreamLocation, quality: number, width: number | null): string {
  const url = new URL(stream.origin);
  url.pathname = `/${encodeStreamPath(stream.path)}/snapshot.jpg`;
  url.searchParams.set('quality', String(quality));
  if (width !== null) url.searchParams.set('width', String(width));
  return url.href;
}
