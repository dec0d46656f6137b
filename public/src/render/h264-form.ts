/**
 * How ws-nal hands H.264 to `VideoDecoder`:
 *
 * - `annexb`: as the server sends it, start codes and in-band SPS/PPS at
 *   each keyframe, configured without a `description` (the `avc3` way);
 * - `avcc`: configured with the init's `avcC` as `description` (the `avc1`
 *   way), each access unit rewritten in the page to length-prefixed NAL
 *   units without the parameter sets.
 *
 * Every WebKit takes `avcc`: Safari's `VideoDecoder` is reported to refuse
 * in-band parameter sets (MediaMTX and moq both work around it), and
 * WebKitGTK, the WebKit a test can run here, decodes both forms
 * (test/e2e/engines.test.ts), so `avcc` costs WebKit nothing. Elsewhere
 * Annex B is passed through untouched.
 */
import { isWebKitEngine } from '../engine.js';

export type H264Form = 'annexb' | 'avcc';

export interface H264FormChoice {
  readonly form: H264Form;
  readonly reason: string;
}

/** `forced` is the page's `?h264=` (`annexb`, `avcc`). */
export function chooseH264Form(forced: string | null = null, userAgent: string = navigator.userAgent): H264FormChoice {
  if (forced === 'annexb' || forced === 'avcc') return { form: forced, reason: `forced by ?h264=${forced}` };
  if (isWebKitEngine(userAgent)) return { form: 'avcc', reason: "WebKit: Safari's VideoDecoder wants avc1 with avcC, not in-band SPS/PPS" };
  return { form: 'annexb', reason: 'Annex B as sent' };
}
