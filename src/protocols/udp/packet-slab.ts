/**
 * Outgoing packets are carved one after another from a large buffer: the
 * socket keeps a reference to each until it is sent, so regions are never
 * reused, and a new slab replaces a full one (the old is freed once its
 * sends complete). One allocation per few dozen packets instead of one each.
 */
export class PacketSlab {
  private slab: Buffer;
  private pos = 0;

  constructor(
    readonly packetSize: number,
    private readonly slabSize = 256 * 1024,
  ) {
    this.slab = Buffer.allocUnsafe(slabSize);
  }

  /** Room for one packet. */
  next(): Buffer {
    if (this.slab.length - this.pos < this.packetSize) {
      this.slab = Buffer.allocUnsafe(this.slabSize);
      this.pos = 0;
    }
    return this.slab.subarray(this.pos, this.pos + this.packetSize);
  }

  /** The last `next()` region holds `len` bytes now owned by the socket. */
  commit(len: number): void {
    this.pos += len;
  }
}
