import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { testHttpServer, waitFor, wsOutcome } from '../helpers/ops.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let jwks: Awaited<ReturnType<typeof testHttpServer>>;
let apiPort: number;
let metricsPort: number;
let key: CryptoKey;
let otherKey: CryptoKey;
const publishers: Publisher[] = [];

async function token(permissions: unknown, opts: { key?: CryptoKey; kid?: string; expires?: string; claim?: string } = {}): Promise<string> {
  return new SignJWT({ [opts.claim ?? 'mediamtx_permissions']: permissions })
    .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' })
    .setSubject('tester')
    .setIssuedAt()
    .setExpirationTime(opts.expires ?? '5m')
    .sign(opts.key ?? key);
}

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  key = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwks = await testHttpServer(() => ({ status: 200, body: JSON.stringify({ keys: [jwk] }) }));
  apiPort = await freePort();
  metricsPort = await freePort();
  srv = await startServer(
    [
      'authMethod: jwt',
      `authJWTJWKS: ${jwks.url}/jwks.json`,
      'authJWTExclude:',
      '  - action: read',
      '    path: lobby',
      'authMaxFailures: 0',
      'api: yes',
      `apiAddress: 127.0.0.1:${apiPort}`,
      'metrics: yes',
      `metricsAddress: 127.0.0.1:${metricsPort}`,
      'paths:',
      '  all_others:',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  for (const p of publishers) await p.stop();
  await srv.stop();
  await jwks.close();
});

describe('JWT authentication', () => {
  it('publishes over RTMP with ?token= when the claim allows it, and refuses other paths', async () => {
    const jwt = await token([{ action: 'publish', path: '~^live/' }]);
    const ok = publish(srv.rtmpUrl(`live/cam?token=${jwt}`), { size: '320x240', audio: false });
    publishers.push(ok);
    await waitFor(() => srv.server.paths.get('live/cam')?.stream?.ready === true, 20_000, 'publish');
    const refused = publish(srv.rtmpUrl(`other/cam?token=${jwt}`), { duration: 5, audio: false });
    publishers.push(refused);
    expect(await refused.exited).not.toBe(0);
    expect(srv.logs.find((l) => l.msg === 'publish refused' && l.path === 'other/cam')?.reason).toBe("the JWT does not allow to publish 'other/cam'");
  });

  it('reads /ws/nal and /ws/fmp4 with a Bearer header or ?token=, per the claim', async () => {
    const reader = await token([{ action: 'read', path: 'live/cam' }]);
    expect((await wsOutcome(srv.wsUrl('live/cam'), { authorization: `Bearer ${reader}` })).code).not.toBe(1008);
    expect((await wsOutcome(srv.wsUrl('live/cam', `ws/fmp4?protocol=standard&token=${reader}`))).code).not.toBe(1008);
    const elsewhere = await wsOutcome(srv.wsUrl('live/other', `ws/nal?token=${reader}`));
    expect(elsewhere).toMatchObject({ code: 1008, reason: "the JWT does not allow to read 'live/other'" });
    expect(await wsOutcome(srv.wsUrl('live/cam'))).toMatchObject({ code: 1008, reason: "a JWT is required to read 'live/cam'" });
    // Excluded: no JWT needed.
    expect((await wsOutcome(srv.wsUrl('lobby'))).code).not.toBe(1008);
  });

  it('takes the permissions claim as a JSON string too, as MediaMTX does', async () => {
    const asString = await token(JSON.stringify([{ action: 'read', path: 'live/cam' }]));
    expect((await wsOutcome(srv.wsUrl('live/cam', `ws/nal?token=${asString}`))).code).not.toBe(1008);
  });

  it('refuses expired tokens, tokens signed by another key, and tokens without the claim', async () => {
    const expired = await token([{ action: 'read' }], { expires: '-1m' });
    expect((await wsOutcome(srv.wsUrl('live/cam', `ws/nal?token=${expired}`))).reason).toBe('invalid JWT: expired');
    const forged = await token([{ action: 'read' }], { key: otherKey });
    expect((await wsOutcome(srv.wsUrl('live/cam', `ws/nal?token=${forged}`))).reason).toBe('invalid JWT: bad signature');
    const noClaim = await token([{ action: 'read' }], { claim: 'other' });
    expect((await wsOutcome(srv.wsUrl('live/cam', `ws/nal?token=${noClaim}`))).reason).toBe(
      "invalid JWT: claim 'mediamtx_permissions' is missing or not a list of permissions",
    );
  });

  it('guards snapshots, the API and metrics', async () => {
    const reader = await token([{ action: 'read', path: 'live/cam' }]);
    const admin = await token([{ action: 'api' }, { action: 'metrics' }]);
    const snap = await fetch(srv.httpUrl('/live/cam/snapshot.jpg'), { headers: { authorization: `Bearer ${reader}` } });
    expect([200, 503]).toContain(snap.status);
    expect((await fetch(srv.httpUrl('/live/cam/snapshot.jpg'))).status).toBe(401);
    expect((await fetch(srv.httpUrl(`/live/cam/snapshot.jpg?token=${admin}`))).status).toBe(403);
    expect((await fetch(`http://127.0.0.1:${apiPort}/v3/info`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${apiPort}/v3/info`, { headers: { authorization: `Bearer ${reader}` } })).status).toBe(403);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics?token=${admin}`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics?token=${reader}`)).status).toBe(403);
  });

  it('fetched the JWKS once and answered every request from its cache', () => {
    expect(jwks.requests.length).toBe(1);
    expect(jwks.requests[0]).toMatchObject({ method: 'GET', url: '/jwks.json' });
  });

  it('fetches the JWKS again after /v3/auth/jwks/refresh', async () => {
    const admin = await token([{ action: 'api' }]);
    const res = await fetch(`http://127.0.0.1:${apiPort}/v3/auth/jwks/refresh`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
    expect(await res.json()).toEqual({ status: 'ok' });
    const reader = await token([{ action: 'read', path: 'live/cam' }]);
    await wsOutcome(srv.wsUrl('live/cam', `ws/nal?token=${reader}`));
    expect(jwks.requests.length).toBe(2);
  });
});
