import { describe, expect, it } from 'vitest';
import { hostName } from '../../src/web/http-redirect.js';

describe('the redirect port reads the Host header', () => {
  it('keeps the name, drops the port', () => {
    expect(hostName('media.example.com')).toBe('media.example.com');
    expect(hostName('media.example.com:80')).toBe('media.example.com');
    expect(hostName('192.168.1.20:80')).toBe('192.168.1.20');
    expect(hostName('[::1]:80')).toBe('[::1]');
    expect(hostName('[fe80::1]')).toBe('[fe80::1]');
  });

  it('refuses anything it would not put in a Location header', () => {
    for (const bad of [undefined, '', 'a b', 'evil.com/x', 'user@host', '-x.example', '[::1', 'h\r\nSet-Cookie: x']) expect(hostName(bad)).toBeUndefined();
  });
});
