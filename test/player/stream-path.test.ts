import { describe, expect, it } from 'vitest';
import { playerPageHref, resolveStream, streamPathFromPathname, webSocketUrl } from '../../public/src/stream-path.js';

describe('stream paths', () => {
  it('derives the path from the player page URL', () => {
    expect(streamPathFromPathname('/live/cam1/')).toBe('live/cam1');
    expect(streamPathFromPathname('/demo/')).toBe('demo');
    expect(streamPathFromPathname('/caf%C3%A9/cam%201/')).toBe('café/cam 1');
    expect(streamPathFromPathname('/')).toBe('');
    expect(streamPathFromPathname('/bad%E0%A4%A/')).toBe('bad%E0%A4%A');
  });

  it('resolves src like a link, to another server too', () => {
    expect(resolveStream('/live/cam1', 'http://localhost:4443/demo/')).toEqual({ origin: 'http://localhost:4443', path: 'live/cam1' });
    expect(resolveStream('https://media.example:4443/live/cam1/', 'http://localhost/')).toEqual({
      origin: 'https://media.example:4443',
      path: 'live/cam1',
    });
  });

  it('builds the ws-nal URL with the page scheme mapped to ws/wss', () => {
    expect(webSocketUrl({ origin: 'http://localhost:4443', path: 'live/cam1' }, 'ws/nal')).toBe('ws://localhost:4443/live/cam1/ws/nal');
    expect(webSocketUrl({ origin: 'https://h:4443', path: 'café/cam 1' }, 'ws/nal')).toBe('wss://h:4443/caf%C3%A9/cam%201/ws/nal');
  });

  it('links each path to its player page', () => {
    expect(playerPageHref('live/cam1')).toBe('/live/cam1/');
    expect(playerPageHref('a b/c?d')).toBe('/a%20b/c%3Fd/');
  });
});
