import type { PathManager } from '../stream/path-manager.js';

export interface PathListItem {
  name: string;
  ready: boolean;
  tracks: string[];
  readers: number;
  bytesReceived: number;
}

/** The `/_api/paths` answer the index page shows (MediaMTX's item names where they exist). */
export function pathsListing(paths: PathManager): { itemCount: number; items: PathListItem[] } {
  const items = paths.list().map((path) => {
    const stream = path.stream;
    const desc = stream?.ready ? stream.description : undefined;
    const tracks: string[] = [];
    if (desc?.video) tracks.push('H264');
    if (desc?.audio) tracks.push('MPEG-4 Audio');
    return {
      name: path.name,
      ready: desc !== undefined,
      tracks,
      readers: path.readers.size,
      bytesReceived: stream?.stats.bytesIn ?? 0,
    };
  });
  return { itemCount: items.length, items };
}
