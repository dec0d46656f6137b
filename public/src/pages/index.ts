/**
 * The index page (`/`): live paths from `GET /_api/paths`, refreshed every
 * 2 s, each linking to its player page.
 */
import { playerPageHref } from '../stream-path.js';
import { h } from '../ui/dom.js';

interface PathItem {
  readonly name: string;
  readonly ready: boolean;
  readonly tracks: readonly string[];
  readonly readers: number;
}

const REFRESH_MS = 2000;

function parseItems(body: unknown): PathItem[] {
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) throw new Error('unexpected answer from /_api/paths');
  return items
    .filter((item): item is PathItem => typeof item === 'object' && item !== null && typeof (item as PathItem).name === 'string')
    .map((item) => ({
      name: item.name,
      ready: item.ready === true,
      tracks: Array.isArray(item.tracks) ? item.tracks.filter((t): t is string => typeof t === 'string') : [],
      readers: typeof item.readers === 'number' ? item.readers : 0,
    }))
    .sort((a, b) => Number(b.ready) - Number(a.ready) || a.name.localeCompare(b.name));
}

function pathCard(item: PathItem): HTMLLIElement {
  const readers = `${item.readers} ${item.readers === 1 ? 'viewer' : 'viewers'}`;
  const meta = item.ready ? [item.tracks.join(' + ') || 'no tracks', readers].join(' · ') : `waiting for publisher · ${readers}`;
  return h(
    'li',
    {},
    h(
      'a',
      { class: `path ${item.ready ? 'live' : 'idle'}`, href: playerPageHref(item.name) },
      h('span', { class: 'badge' }, item.ready ? 'LIVE' : 'IDLE'),
      h('span', { class: 'name' }, item.name),
      h('span', { class: 'meta' }, meta),
    ),
  );
}

function rtmpHost(): string {
  return location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
}

function render(items: PathItem[] | null, error: string | null): void {
  const list = document.getElementById('paths')!;
  const empty = document.getElementById('empty')!;
  const status = document.getElementById('status')!;
  if (items) list.replaceChildren(...items.map(pathCard));
  const live = items?.filter((i) => i.ready).length ?? 0;
  empty.hidden = items === null || live > 0;
  status.textContent = error ?? (items === null ? 'Loading…' : `${live} live · updated ${new Date().toLocaleTimeString()}`);
  status.classList.toggle('error', error !== null);
}

async function refresh(): Promise<void> {
  try {
    const response = await fetch('/_api/paths', { cache: 'no-store', signal: AbortSignal.timeout(REFRESH_MS * 2) });
    if (!response.ok) throw new Error(`server answered ${response.status}`);
    render(parseItems(await response.json()), null);
  } catch (err) {
    render(null, `Cannot reach the server (${(err as Error).message}); retrying…`);
  } finally {
    setTimeout(() => void refresh(), REFRESH_MS);
  }
}

document.getElementById('publish-command')!.textContent =
  `ffmpeg -re -i file.mp4 -c copy -f flv rtmp://${rtmpHost()}:1935/live/cam1`;
render(null, null);
void refresh();
