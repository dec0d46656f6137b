import { describe, expect, it } from 'vitest';
import { secureHint } from '../../public/src/ui/secure-hint.js';

describe('the HTTPS hint', () => {
  it('on an insecure page from another machine, links to the same page on https://', () => {
    const hint = secureHint('http://192.168.1.20:4443/live/cam1/?transport=ws-nal#x', false);
    expect(hint?.text).toBe('Low latency needs HTTPS');
    expect(hint?.shortText).toBe('Use HTTPS');
    expect(hint?.href).toBe('https://192.168.1.20:4443/live/cam1/?transport=ws-nal#x');
    expect(secureHint('http://media.example/live/cam1/', false)?.href).toBe('https://media.example/live/cam1/');
  });

  it('says nothing on a secure page', () => {
    expect(secureHint('https://media.example/live/cam1/', true)).toBeNull();
    // Some secure contexts are http: (loopback); the browser knows best.
    expect(secureHint('http://media.example/live/cam1/', true)).toBeNull();
  });

  it('says nothing on loopback names, other schemes, or a URL it cannot read', () => {
    for (const href of ['http://localhost:4443/x/', 'http://cam.localhost/x/', 'http://127.0.0.1:4443/x/', 'http://[::1]:4443/x/', 'file:///tmp/player.html', 'nonsense']) {
      expect(secureHint(href, false)).toBeNull();
    }
  });
});
