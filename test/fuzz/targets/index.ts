/** Every fuzz target, in the order of the table in docs/robustness.md. */
import type { FuzzTarget } from '../target.js';
import { config } from './config.js';
import { flv } from './flv.js';
import { h3 } from './h3.js';
import { hls } from './hls.js';
import { http } from './http.js';
import { moq } from './moq.js';
import { moqt } from './moqt.js';
import { moqtOrigin } from './moqt-origin.js';
import { qmux } from './qmux.js';
import { quicUdp } from './quic-udp.js';
import { rtmp } from './rtmp.js';
import { rtmpOrigin } from './rtmp-origin.js';
import { rtwebsocket } from './rtwebsocket.js';
import { srt } from './srt.js';
import { wsFrame } from './ws-frame.js';
import { wsNal } from './ws-nal.js';

export const TARGETS: readonly FuzzTarget[] = [wsNal, wsFrame, rtwebsocket, http, rtmp, flv, rtmpOrigin, moqtOrigin, hls, quicUdp, h3, moq, qmux, srt, moqt, config];
