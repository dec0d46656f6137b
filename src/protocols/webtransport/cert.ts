/**
 * Self-signed certificates that browsers accept through WebTransport's
 * `serverCertificateHashes`: ECDSA P-256, X.509 v3, validity at most 14 days
 * (W3C WebTransport §"custom certificate requirements"). Node's `crypto`
 * makes the key and signs; the DER around it is built here with a handful of
 * ASN.1 encoders, since no installed package writes certificates.
 */
import { createHash, createPrivateKey, generateKeyPairSync, sign, X509Certificate, randomBytes, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

export interface SelfSignedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** The certificate in DER. */
  readonly der: Uint8Array;
  /** SHA-256 of `der`: the value for `serverCertificateHashes`. */
  readonly sha256: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface SelfSignedOptions {
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Days of validity; browsers refuse hashes of certificates valid longer than 14. Default 10. */
  readonly validDays?: number;
  /** Clock to start from (tests); notBefore is an hour earlier to absorb skew. */
  readonly now?: Date;
  /** A certification authority's certificate (CA:true, keyCertSign and cRLSign, no SAN unless given). */
  readonly ca?: boolean;
  /** Signed by this CA (made by this function with `ca: true`) instead of by its own key. */
  readonly issuer?: { readonly certPem: string; readonly keyPem: string };
}

// --- minimal DER (ITU-T X.690) ---

function derLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  return Buffer.concat([Uint8Array.of(tag), derLength(body.length), body]);
}

const sequence = (...items: Uint8Array[]): Uint8Array => tlv(0x30, ...items);
const set = (...items: Uint8Array[]): Uint8Array => tlv(0x31, ...items);
const explicit = (n: number, inner: Uint8Array): Uint8Array => tlv(0xa0 | n, inner);
const octetString = (b: Uint8Array): Uint8Array => tlv(0x04, b);
const utf8String = (s: string): Uint8Array => tlv(0x0c, Buffer.from(s, 'utf8'));
const bitString = (b: Uint8Array): Uint8Array => tlv(0x03, Uint8Array.of(0), b);
const boolean = (v: boolean): Uint8Array => tlv(0x01, Uint8Array.of(v ? 0xff : 0));

/** A non-negative INTEGER from big-endian magnitude bytes. */
function integer(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body.length === 0) body = Uint8Array.of(0);
  if (body[0]! & 0x80) body = Buffer.concat([Uint8Array.of(0), body]);
  return tlv(0x02, body);
}

function oid(dotted: string): Uint8Array {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const group: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) group.unshift((v & 0x7f) | 0x80);
    out.push(...group);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** UTCTime for 1950..2049, GeneralizedTime after, as RFC 5280 §4.1.2.5 requires. */
function time(d: Date): Uint8Array {
  const p = (n: number): string => String(n).padStart(2, '0');
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  const y = d.getUTCFullYear();
  return y < 2050 ? tlv(0x17, Buffer.from(`${p(y % 100)}${rest}`)) : tlv(0x18, Buffer.from(`${y}${rest}`));
}

function ipBytes(ip: string): Uint8Array {
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new TypeError(`not an IP address: ${ip}`);
  const [head, tail = ''] = ip.split('::') as [string, string?];
  const words = (s: string | undefined): number[] => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = ip.includes('::') ? [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t] : h;
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >>> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_CN = '2.5.4.3';
const OID_SAN = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_SUBJECT_KEY_ID = '2.5.29.14';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';

/** A key identifier: SHA-1 of the SubjectPublicKeyInfo (RFC 5280 §4.2.1.2 allows any unique method). */
function keyId(spkiDer: Uint8Array): Uint8Array {
  return createHash('sha1').update(spkiDer).digest();
}

function cnName(commonName: string): Uint8Array {
  return sequence(set(sequence(oid(OID_CN), utf8String(commonName))));
}

function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

export function generateSelfSignedCertificate(opts: SelfSignedOptions = {}): SelfSignedCertificate {
  const commonName = opts.commonName ?? 'polycast';
  const dnsNames = opts.dnsNames ?? ['localhost'];
  const ipAddresses = opts.ipAddresses ?? ['127.0.0.1', '::1'];
  const validDays = opts.validDays ?? 10;
  if (!(validDays > 0)) throw new RangeError('validDays must be positive');
  const now = opts.now ?? new Date();
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 3600_000);
  const notAfter = new Date(notBefore.getTime() + validDays * 86_400_000);

  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const algorithm = sequence(oid(OID_ECDSA_SHA256));
  const name = cnName(commonName);
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;

  // The issuer: this certificate itself, or a CA made here (whose subject is a CN alone, as `name` is).
  const issuerCert = opts.issuer === undefined ? undefined : new X509Certificate(opts.issuer.certPem);
  const issuerName = issuerCert === undefined ? name : cnName(/CN=([^\n]*)/.exec(issuerCert.subject)?.[1] ?? '');
  const signingKey = opts.issuer === undefined ? (privateKey as KeyObject) : createPrivateKey(opts.issuer.keyPem);
  const issuerSpki = issuerCert === undefined ? spki : issuerCert.publicKey.export({ type: 'spki', format: 'der' });

  const altNames = [
    ...dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))), // [2] dNSName
    ...ipAddresses.map((ip) => tlv(0x87, ipBytes(ip))), // [7] iPAddress
  ];
  const extensions = opts.ca
    ? sequence(
        sequence(oid(OID_BASIC_CONSTRAINTS), boolean(true), octetString(sequence(boolean(true)))), // cA TRUE
        // keyCertSign (bit 5) and cRLSign (bit 6): 0x06 with 1 unused bit.
        sequence(oid(OID_KEY_USAGE), boolean(true), octetString(tlv(0x03, Uint8Array.of(1, 0x06)))),
        sequence(oid(OID_SUBJECT_KEY_ID), octetString(octetString(keyId(spki)))),
        ...(altNames.length > 0 ? [sequence(oid(OID_SAN), octetString(sequence(...altNames)))] : []),
      )
    : sequence(
        sequence(oid(OID_BASIC_CONSTRAINTS), boolean(true), octetString(sequence())),
        // digitalSignature only: bit 0 of a 1-bit string (7 unused bits).
        sequence(oid(OID_KEY_USAGE), boolean(true), octetString(tlv(0x03, Uint8Array.of(7, 0x80)))),
        sequence(oid(OID_EXT_KEY_USAGE), octetString(sequence(oid(OID_SERVER_AUTH)))),
        ...(altNames.length > 0 ? [sequence(oid(OID_SAN), octetString(sequence(...altNames)))] : []),
        ...(issuerCert === undefined ? [] : [sequence(oid(OID_AUTHORITY_KEY_ID), octetString(sequence(tlv(0x80, keyId(issuerSpki)))))]),
      );

  const tbs = sequence(
    explicit(0, integer(Uint8Array.of(2))), // v3
    integer(serial),
    algorithm,
    issuerName,
    sequence(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, signingKey); // DER ECDSA-Sig-Value
  const der = sequence(tbs, algorithm, bitString(signature));

  const certPem = toPem('CERTIFICATE', der);
  // Parse once: a structural mistake here should fail loudly, not in a browser.
  const parsed = new X509Certificate(certPem);
  if (!parsed.verify(issuerCert?.publicKey ?? publicKey)) throw new Error('generated certificate does not verify');
  if (issuerCert !== undefined && !parsed.checkIssued(issuerCert)) throw new Error('generated certificate does not name its issuer');
  return {
    certPem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    der: Uint8Array.from(der),
    sha256: Uint8Array.from(createHash('sha256').update(der).digest()),
    notBefore,
    notAfter,
  };
}
