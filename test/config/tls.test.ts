import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { problemsOf, yaml } from './helpers.js';

describe('webTLS settings', () => {
  it('an empty webTLS keeps what older files meant: files when both PEM files are set, else off', () => {
    expect(parseConfig('', 'x.yml', {}).webTLS).toBe('off');
    expect(parseConfig(yaml('webServerCert: a.crt', 'webServerKey: a.key'), 'x.yml', {}).webTLS).toBe('files');
    expect(parseConfig(yaml('webTLS: off', 'webServerCert: a.crt', 'webServerKey: a.key'), 'x.yml', {}).webTLS).toBe('off');
  });

  it('auto takes a domain or a list, lower-cased', () => {
    const c = parseConfig(yaml('webTLS: auto', 'webTLSDomains: Media.Example.com'), 'x.yml', {});
    expect(c.webTLS).toBe('auto');
    expect(c.webTLSDomains).toEqual(['media.example.com']);
    expect(parseConfig('', 'x.yml', { POLYCAST_WEBTLS: 'auto', POLYCAST_WEBTLSDOMAINS: 'a.example, b.example' }).webTLSDomains).toEqual(['a.example', 'b.example']);
  });

  it('refuses what cannot work, saying why', () => {
    expect(problemsOf(yaml('webTLS: auto'))).toEqual(["mediamtx.yml:1:9: webTLS: is 'auto' but webTLSDomains is empty: list the names this server is reached by"]);
    expect(problemsOf(yaml('webTLS: local'))).toEqual(["mediamtx.yml:1:9: webTLS: is 'local' but webTLSDomains is empty: list the names this server is reached by"]);
    expect(parseConfig(yaml('webTLS: local', 'webTLSDomains: [polycast.lan, 192.168.1.20]'), 'x.yml', {}).webTLSDomains).toEqual(['polycast.lan', '192.168.1.20']);
    expect(problemsOf(yaml('webTLS: files'))).toEqual(["mediamtx.yml:1:9: webTLS: is 'files' but webServerCert and webServerKey are not both set"]);
    expect(problemsOf(yaml('webTLS: on'))).toEqual(["mediamtx.yml:1:9: webTLS: 'on' is not a TLS mode (one of: auto, local, files, off)"]);
    expect(problemsOf(yaml('webTLS: auto', 'webTLSDomains: [ok.example, "*.example"]'))[0]).toMatch(/^mediamtx\.yml:2:29: webTLSDomains\[1\]: /);
    expect(problemsOf(yaml('webTLS: auto', 'webTLSDomains: a.example', 'webTLSACMEDirectory: ftp://x'))).toEqual([
      "mediamtx.yml:3:22: webTLSACMEDirectory: 'ftp://x' is not an http:// or https:// URL",
    ]);
    // No plain-HTTP listener: challenges go over TLS-ALPN-01 on the web port instead.
    expect(parseConfig(yaml('webTLS: auto', 'webTLSDomains: a.example', 'webTLSHTTPAddress: ""'), 'x.yml', {}).webTLSHTTPAddress).toBeUndefined();
  });

  it('the HTTP port clashes with another listener only while TLS is on', () => {
    expect(parseConfig(yaml('webAddress: :80'), 'x.yml', {}).webTLS).toBe('off');
    expect(problemsOf(yaml('webTLS: auto', 'webTLSDomains: a.example', 'webAddress: :80'))[0]).toMatch(/port 80 is already used by/);
  });
});
