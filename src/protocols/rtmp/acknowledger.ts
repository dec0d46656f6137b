/**
 * The receiving side's half of flow control (Adobe RTMP 1.0 §5.4.3): once
 * the peer announced a window (Window Acknowledgement Size), an
 * Acknowledgement is due each time that many more bytes have arrived.
 * Clients and servers both owe it; peers that are not acknowledged may stop
 * sending.
 */
export class Acknowledger {
  private received = 0;
  private ackedAt = 0;
  private window = 0;

  /** The peer's Window Acknowledgement Size. */
  setWindow(bytes: number): void {
    this.window = bytes;
  }

  /** Counts bytes read; returns the sequence number to acknowledge when one is due. */
  count(bytes: number): number | undefined {
    this.received += bytes;
    if (this.window === 0 || this.received - this.ackedAt < this.window) return undefined;
    this.ackedAt = this.received;
    return this.received % 0x100000000;
  }
}
