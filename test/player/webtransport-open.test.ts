import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeClose, describeHandshakeError, fetchCertificateHash, streamEndpoint, webTransportUrl } from '../../public/src/transports/webtransport/open.js';

const HEX = '993896224ff6d9dbcbaac7bf30356008d0887ad4deb99952e7448a69361e8561';

afterEach(() => vi.unstubAllGlobals());

describe('opening WebTransport to the stream’s server', () => {
  it('builds https URLs on the web port, whatever the page’s scheme', () => {
    const stream = { origin: 'http://127.0.0.1:4443', path: 'live/cam 1' };
    expect(webTransportUrl(stream.origin, streamEndpoint(stream, 'wt/fmp4'))).toBe('https://127.0.0.1:4443/live/cam%201/wt/fmp4');
    expect(webTransportUrl('https://example.org', '/moq')).toBe('https://example.org/moq');
  });

  it('reads the certificate hash, and takes anything that is not one as no hash', async () => {
    const answers: Record<string, () => Response> = {
      'http://a/certificate.sha256': () => new Response(`${HEX}\n`),
      'http://b/certificate.sha256': () => new Response('<!doctype html>', { status: 200 }),
      'http://c/certificate.sha256': () => new Response('', { status: 404 }),
      'http://d/certificate.sha256': () => new Response(''),
    };
    vi.stubGlobal('fetch', async (url: URL) => {
      const answer = answers[url.href];
      if (!answer) throw new TypeError('network error');
      return answer();
    });
    const hash = await fetchCertificateHash('http://a');
    expect(Buffer.from(hash!).toString('hex')).toBe(HEX);
    expect(await fetchCertificateHash('http://b')).toBeNull();
    expect(await fetchCertificateHash('http://c')).toBeNull();
    expect(await fetchCertificateHash('http://d')).toBeNull();
    expect(await fetchCertificateHash('http://e')).toBeNull();
  });

  it('says so when the browser rejects the handshake with nothing (WebKit)', () => {
    expect(describeHandshakeError(undefined)).toMatch(/^the browser gave no error at all \(`ready` rejected with undefined, as WebKit/);
    expect(describeHandshakeError(new Error('Opening handshake failed.'))).toBe('Opening handshake failed.');
    expect(describeHandshakeError(Object.assign(new Error(''), { name: 'WebTransportError' }))).toBe('WebTransportError');
  });

  it('maps session close codes onto the player’s', () => {
    expect(describeClose({ closeCode: 404, reason: 'no path' })).toEqual({ code: 4404, reason: 'no path' });
    expect(describeClose({ closeCode: 0, reason: '' })).toEqual({ code: 1000, reason: 'closed by the server' });
    expect(describeClose({ closeCode: 1, reason: 'bad record' })).toEqual({ code: 4001, reason: 'bad record' });
    expect(describeClose({})).toEqual({ code: 1000, reason: 'closed by the server' });
  });
});
