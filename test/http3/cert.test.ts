import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSelfSignedCertificate } from '../../src/protocols/webtransport/cert.js';

describe('generateSelfSignedCertificate', () => {
  it('makes an ECDSA P-256 X.509 v3 certificate valid 10 days, with its SHA-256', () => {
    const now = new Date('2031-05-06T07:08:09.500Z');
    const c = generateSelfSignedCertificate({ now, dnsNames: ['localhost', 'polycast.test'] });
    const x = new X509Certificate(c.certPem);
    expect(x.publicKey.asymmetricKeyDetails).toMatchObject({ namedCurve: 'prime256v1' });
    expect(x.subject).toBe('CN=polycast');
    expect(x.issuer).toBe('CN=polycast');
    expect(new Date(x.validFrom).getTime()).toBe(c.notBefore.getTime());
    expect(c.notAfter.getTime() - c.notBefore.getTime()).toBe(10 * 86_400_000);
    expect(c.notBefore.getTime()).toBeLessThan(now.getTime());
    expect(x.subjectAltName).toBe('DNS:localhost, DNS:polycast.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(Buffer.from(x.raw).equals(Buffer.from(c.der))).toBe(true);
    expect(Buffer.from(c.sha256).toString('hex')).toBe(createHash('sha256').update(c.der).digest('hex'));
    expect(x.fingerprint256.replace(/:/g, '').toLowerCase()).toBe(Buffer.from(c.sha256).toString('hex'));
    expect(x.checkPrivateKey(createPrivateKey(c.keyPem))).toBe(true);
    expect(c.certPem.split('\n').every((l) => l.length <= 64)).toBe(true);
  });

  it('uses GeneralizedTime past 2049', () => {
    const c = generateSelfSignedCertificate({ now: new Date('2055-01-01T00:00:00Z') });
    expect(new Date(new X509Certificate(c.certPem).validTo).getUTCFullYear()).toBe(2055);
  });
});
