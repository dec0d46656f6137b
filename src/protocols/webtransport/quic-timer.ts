/**
 * The one timer quiche wants per connection, armed from `conn.timeout()`
 * after every flush. Rearming on every packet is costly, so an earlier
 * pending deadline is kept: quiche ignores a timeout that is not due yet,
 * and the flush after it rearms. Shared by the server's connections, the
 * client, and the load client of bench/wt-client.ts.
 */
export class QuicTimer {
  private timer: NodeJS.Timeout | undefined;
  private deadline = Infinity;

  /** `fire` runs when the deadline passes: it calls `onTimeout`, handles what follows, and flushes (which rearms). */
  constructor(private readonly fire: () => void) {}

  arm(conn: { timeout(): number | null }): void {
    const ms = conn.timeout();
    if (ms === null) {
      this.cancel();
      return;
    }
    const deadline = Date.now() + ms;
    if (this.timer !== undefined && this.deadline <= deadline + 1) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.deadline = deadline;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.deadline = Infinity;
      this.fire();
    }, ms + 1);
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.deadline = Infinity;
  }
}
