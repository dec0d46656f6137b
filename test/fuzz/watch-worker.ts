/**
 * The watching reader, in a worker thread: the fuzzer's own work (QUIC
 * handshakes, mutations, in the main thread) must not delay the counting,
 * or a stall of the fuzzer would show as a frame-rate dip the server never
 * caused. Posts the video frames of every whole second, and the close.
 */
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

export type WatchMessage = { kind: 'frames'; count: number } | { kind: 'closed'; code: number; reason: string };

const post = (m: WatchMessage) => parentPort!.postMessage(m);
const ws = new WebSocket((workerData as { url: string }).url);
let frames = 0;
const timer = setInterval(() => {
  post({ kind: 'frames', count: frames });
  frames = 0;
}, 1000);
ws.on('error', () => undefined);
// ws-nal media messages: 0x01 is video (docs/protocols/ws-nal.md).
ws.on('message', (data: Buffer, isBinary) => {
  if (isBinary && data[0] === 0x01) frames++;
});
ws.on('close', (code, reason) => {
  clearInterval(timer);
  post({ kind: 'closed', code, reason: reason.toString() });
});
parentPort!.on('message', (m: string) => {
  if (m === 'stop') {
    clearInterval(timer);
    ws.terminate();
  }
});
