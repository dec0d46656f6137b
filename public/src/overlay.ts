/**
 * The stats overlay: one summary line by default, the full table when
 * expanded (a click, or `?debug=1`).
 */
import type { PolycastStats } from './stats/player-stats.js';
import { h } from './ui/dom.js';

const ROWS = [
  'transport',
  'skipped',
  'path',
  'resolution',
  'fps',
  'RTT',
  'latency',
  'buffer',
  'rate',
  'dropped',
  'abandoned',
  'jpeg',
  'audio',
  'state',
  'degraded',
] as const;
type Row = (typeof ROWS)[number];

function ms(value: number | null): string {
  return value === null ? '–' : `${Math.round(value)} ms`;
}

function resolution(stats: PolycastStats): string {
  return stats.width > 0 ? `${stats.width}×${stats.height}` : '–';
}

function rowValue(row: Row, stats: PolycastStats): string {
  switch (row) {
    case 'transport':
      return stats.transport ? `${stats.transport}${stats.transportDetail ? ` (${stats.transportDetail})` : ''}` : '–';
    case 'skipped':
      return stats.skipped.length > 0 ? stats.skipped.join('; ') : '–';
    case 'path':
      return stats.path || '–';
    case 'resolution':
      return resolution(stats);
    case 'fps':
      return stats.fps.toFixed(0);
    case 'RTT':
      return ms(stats.rttMs);
    case 'latency':
      return ms(stats.latencyMs);
    case 'buffer':
      return ms(stats.bufferAheadMs);
    case 'rate':
      return stats.playbackRate === null ? '–' : `${stats.playbackRate.toFixed(3)}×`;
    case 'abandoned':
      return String(stats.abandoned);
    case 'jpeg':
      return stats.jpegQuality === null ? '–' : `q${stats.jpegQuality}${stats.jpegWidth === null ? '' : `, ${stats.jpegWidth} px wide`}`;
    case 'degraded':
      return stats.degraded ? `${stats.degraded}: ${stats.degradedReason}` : 'no';
    case 'dropped':
      return stats.droppedByServer > 0 ? `${stats.dropped} (${stats.droppedByServer} by server)` : String(stats.dropped);
    case 'audio':
      return stats.muted ? 'muted' : `${stats.audioFramesPlayed} played, ${stats.audioFramesDropped} late`;
    case 'state':
      return stats.detail ? `${stats.state}: ${stats.detail}` : stats.state;
  }
}

export class StatsOverlay {
  private readonly summary = h('div', { class: 'summary' });
  private readonly values = new Map<Row, HTMLElement>();

  constructor(
    private readonly element: HTMLElement,
    expanded: boolean,
  ) {
    const list = h('dl');
    for (const row of ROWS) {
      const value = h('dd');
      this.values.set(row, value);
      list.append(h('dt', {}, row), value);
    }
    element.replaceChildren(this.summary, list);
    this.expanded = expanded;
    element.addEventListener('click', () => (this.expanded = !this.expanded));
    element.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.expanded = !this.expanded;
      }
    });
  }

  get expanded(): boolean {
    return this.element.classList.contains('expanded');
  }

  set expanded(value: boolean) {
    this.element.classList.toggle('expanded', value);
    this.element.setAttribute('aria-expanded', String(value));
  }

  update(stats: PolycastStats): void {
    const parts = [stats.transport ?? '–', resolution(stats), `${stats.fps.toFixed(0)} fps`, `latency ${ms(stats.latencyMs)}`];
    if (stats.bufferAheadMs !== null) parts.push(`buffer ${ms(stats.bufferAheadMs)}`);
    setText(this.summary, parts.join(' · '));
    for (const row of ROWS) setText(this.values.get(row)!, rowValue(row, stats));
  }
}

/** Writing identical text still costs a layout; the overlay refreshes several times a second. */
function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
