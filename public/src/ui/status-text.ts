/** What the status line says for each state. Pure, so the wording is testable and shared by every view. */
import type { PlayerState } from '../stats/player-stats.js';

export function statusTitle(state: PlayerState, reconnectInMs: number | null): string {
  switch (state) {
    case 'idle':
      return 'Idle';
    case 'connecting':
      return 'Connecting…';
    case 'waiting':
      return 'Waiting for publisher';
    case 'playing':
      return 'Playing';
    case 'reconnecting':
      return reconnectInMs !== null && reconnectInMs > 0
        ? `Reconnecting in ${Math.ceil(reconnectInMs / 1000)} s`
        : 'Reconnecting…';
    case 'unsupported':
      return 'Cannot play here';
    case 'stopped':
      return 'Stopped';
  }
}
