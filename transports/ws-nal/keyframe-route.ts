import type { FastifyReply, FastifyRequest } from 'fastify';
import { refuseHttpRead, type HttpRoute, type TransportContext } from '../../src/transport.js';
import { encodeMediaMessage } from './media-encoder.js';

/**
 * `GET /<path>/ws/nal/keyframe`: the stream's newest video keyframe as the
 * ws-nal media message a new viewer's socket would carry first (media header
 * and payload, docs/protocols/ws-nal.md#the-keyframe-over-http). The player
 * page decodes it while a transport that needs a session or a segment before
 * its first picture is still starting (public/src/page-picture.ts). The
 * message is the one ws-nal serializes once per frame for every viewer, so a
 * request costs a lookup and a write.
 */
/**
 * Larger keyframes (a 4K stream's) are not served: the page fetches the keyframe beside its transport's own start,
 * which brings the same picture again, and on a slow link that many bytes twice would hold the moving picture back
 * for longer than the still one gains.
 */
export const MAX_SERVED_KEYFRAME_BYTES = 512 * 1024;

export function keyframeRoute(ctx: TransportContext, transport: string): HttpRoute {
  return { suffix: 'ws/nal/keyframe', handle: (req, reply, path) => serveKeyframe(ctx, transport, req, reply, path) };
}

async function serveKeyframe(ctx: TransportContext, transport: string, req: FastifyRequest, reply: FastifyReply, pathName: string): Promise<FastifyReply> {
  const refused = await refuseHttpRead(ctx, req, reply, pathName, transport);
  if (refused !== undefined) return refused;
  // The newest keyframe changes with every GOP: nothing here is for a cache.
  reply.header('Cache-Control', 'no-store');
  const stream = ctx.paths.get(pathName)?.stream;
  const keyframe = stream?.ready === true ? stream.keyframe : undefined;
  if (!stream || keyframe === undefined) return reply.code(404).type('text/plain').send(`no keyframe on '${pathName}' (not live, or no video)\n`);
  const message = encodeMediaMessage(keyframe, stream.description.video);
  if (message.byteLength > MAX_SERVED_KEYFRAME_BYTES) {
    return reply.code(404).type('text/plain').send(`the keyframe on '${pathName}' is larger than ${MAX_SERVED_KEYFRAME_BYTES / 1024} KiB: not served\n`);
  }
  return reply
    .type('application/octet-stream')
    .header('X-Frame-Age-Ms', String(Math.max(0, Math.round(Date.now() - keyframe.receivedAt))))
    .send(message);
}
