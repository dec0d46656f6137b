export { createInitSegment, mseMimeType } from './init.js';
export { FragmentWriter, type FragmentEntry, type FragmentWriterOptions } from './fragment.js';
export { DEFAULT_MAX_GAP_US } from './timeline.js';
export { AUDIO_TRACK_ID, VIDEO_TRACK_ID, VIDEO_TIMESCALE, type MuxTracks } from './tracks.js';
