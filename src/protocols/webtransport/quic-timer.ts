/**
 * The one timer a QUIC connection wants, armed from `conn.timeout()` after
 * every flush. Rearming on every packet is costly, so an earlier pending
 * deadline is kept. Most deadlines move later before they come (every ACK
 * pushes the loss-detection timer back), so when the timer goes off before
 * the latest deadline it is set again for that one instead of waking the
 * connection for nothing: a call into the stack, a read of its state and a
 * flush, about every loss-detection period per connection otherwise.
 * Shared by the server's connections, the client, and the load client of
 * bench/wt-client.ts.
 */
export class QuicTimer {
  private timer: NodeJS.Timeout | undefined;
  /** When the pending timer goes off (ms since the epoch), Infinity when none is. */
  private deadline = Infinity;
  /** When the connection last said it must be woken: every state change is followed by a flush and `arm`. */
  private wanted = Infinity;
  private readonly ring = (): void => {
    this.timer = undefined;
    const early = this.wanted - Date.now();
    if (early > 1 && this.wanted !== Infinity) {
      this.set(early);
      return;
    }
    this.deadline = Infinity;
    this.wanted = Infinity;
    this.fire();
  };

  /** `fire` runs when the deadline passes: it calls `onTimeout`, handles what follows, and flushes (which rearms). */
  constructor(private readonly fire: () => void) {}

  arm(conn: { timeout(): number | null }): void {
    const ms = conn.timeout();
    if (ms === null) {
      this.cancel();
      return;
    }
    const deadline = Date.now() + ms;
    this.wanted = deadline;
    if (this.timer !== undefined && this.deadline <= deadline + 1) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.set(ms);
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.deadline = Infinity;
    this.wanted = Infinity;
  }

  private set(ms: number): void {
    this.deadline = Date.now() + ms;
    this.timer = setTimeout(this.ring, ms + 1);
  }
}
