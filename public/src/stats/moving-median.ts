/** A median over the last N samples: one late frame or GC pause should not swing the number shown. */
export class MovingMedian {
  private readonly samples: number[] = [];

  constructor(private readonly size = 31) {}

  add(value: number): void {
    this.samples.push(value);
    if (this.samples.length > this.size) this.samples.shift();
  }

  get value(): number | null {
    const n = this.samples.length;
    if (n === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const mid = n >> 1;
    return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  }

  clear(): void {
    this.samples.length = 0;
  }
}
