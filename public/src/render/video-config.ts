/**
 * The `VideoDecoderConfig` the player gives WebCodecs for a stream's video
 * init, shared by `VideoRenderer` and the player page's early decoder
 * (early-socket.ts), which must configure exactly what the renderer would to
 * hand its decoder over.
 */
import type { VideoInit } from '../protocol/ws-nal-wire.js';
import type { H264Form } from './h264-form.js';

/**
 * Whether the decoder is configured with the init's `description`: Annex B
 * is chosen by leaving it out (with an `avcC`/`hvcC` the decoder expects
 * length-prefixed NAL units). Only H.264 is rewritten for `decodeAs: avcc`
 * (the WebKit workaround of h264-form.ts).
 */
export function describedConfig(init: VideoInit, input: 'annexb' | 'avcc', decodeAs: H264Form | undefined): boolean {
  return init.description !== undefined && (input === 'avcc' || (decodeAs === 'avcc' && init.codec.startsWith('avc1.')));
}

export function videoDecoderConfig(init: VideoInit, described: boolean): VideoDecoderConfig {
  return {
    codec: init.codec,
    codedWidth: init.codedWidth,
    codedHeight: init.codedHeight,
    optimizeForLatency: true,
    ...(described ? { description: init.description } : {}),
  };
}

/** Two configurations that decode the same way (a new SPS/PPS at the same size is a new configuration too). */
export function configKey(config: VideoDecoderConfig): string {
  const source = config.description;
  const bytes = !source ? [] : ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : new Uint8Array(source);
  return `${config.codec}/${config.codedWidth}x${config.codedHeight}/${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
