import { describe, expect, it } from 'vitest';
import { decodeStreamId, encodeStreamId } from '../../src/protocols/srt/handshake.js';
import { parseStreamId } from '../../src/ingest/srt/stream-id.js';

describe('SRT stream id', () => {
  it.each([
    ['publish:live/cam1', { mode: 'publish', path: 'live/cam1', user: '', pass: '', query: '' }],
    ['publish:live/cam1:studio:s3cret', { mode: 'publish', path: 'live/cam1', user: 'studio', pass: 's3cret', query: '' }],
    ['publish:cam:key=1', { mode: 'publish', path: 'cam', user: '', pass: '', query: 'key=1' }],
    ['publish:cam:u:p:key=1', { mode: 'publish', path: 'cam', user: 'u', pass: 'p', query: 'key=1' }],
    ['read:cam', { mode: 'read', path: 'cam', user: '', pass: '', query: '' }],
    ['#!::r=live/cam1,m=publish,u=studio,s=s3cret', { mode: 'publish', path: 'live/cam1', user: 'studio', pass: 's3cret', query: '' }],
    ['#!::r=live/cam1', { mode: 'read', path: 'live/cam1', user: '', pass: '', query: '' }],
  ])('reads %s', (raw, expected) => {
    expect(parseStreamId(raw)).toEqual(expected);
  });

  it.each([
    ['live/cam1', 'must be'],
    ['play:cam', 'neither publish nor read'],
    ['publish:', 'names no path'],
    ['#!::m=publish', 'names no resource'],
    ['#!::r=cam,m=watch', 'neither publish nor request'],
    ['#!::garbage', 'not key=value'],
    [`publish:${'a'.repeat(600)}`, 'longer than 512'],
  ])('refuses %s with a reason', (raw, reason) => {
    const parsed = parseStreamId(raw);
    expect('error' in parsed && parsed.error).toContain(reason);
  });

  it('reverses each group of four bytes on the wire, as libsrt writes it', () => {
    const ext = encodeStreamId('publish:x');
    expect(Buffer.from(ext.body).toString('latin1')).toBe('lbup:hsi\0\0\0x');
    expect(decodeStreamId(ext.body)).toBe('publish:x');
  });
});
