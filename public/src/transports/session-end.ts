/**
 * How a transport session tells the player it ended, shared by the
 * sessions that end for the same reasons (the MSE ones, WebTransport's).
 */
import type { SessionEvents } from './types.js';

/** Which event ends the session; null when the player itself closed it and needs no report. */
export type EndReport = 'closed' | 'failed' | 'stalled' | null;

export function reportEnd(events: SessionEvents, report: EndReport, code: number, reason: string): void {
  if (report === 'closed') events.closed(code, reason);
  else if (report === 'failed') events.failed(reason);
  else if (report === 'stalled') events.stalled(reason);
}

/**
 * A media error before the first picture means this browser cannot play the
 * stream this way (the next transport should be tried); after it, a
 * reconnect may help.
 */
export function mediaErrorReport(playing: boolean): EndReport {
  return playing ? 'closed' : 'failed';
}
