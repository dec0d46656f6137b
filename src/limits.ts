/** A client connection as hooks and metrics see it. */
export interface ConnectionInfo {
  /** MediaMTX-style type: `rtmpConn`, `wsNalSession`, `wsFmp4Session`, ... */
  readonly type: string;
  readonly id: string;
  readonly remoteAddress: string;
}

export interface ConnectionLease {
  /** Names the connection once its id is known; starts runOnConnect. */
  identify(type: string, id: string): void;
  /** The connection is over (idempotent); runs runOnDisconnect if it was identified. */
  release(): void;
}

export interface ConnectionsOptions {
  /** `maxConnections`, read at each new connection so a reload applies at once. */
  max(): number;
  /** runOnConnect; returns what to do at disconnect. */
  onConnect?(info: ConnectionInfo): () => void;
}

/**
 * The global connection limit (`maxConnections`) and runOnConnect /
 * runOnDisconnect. Transports reserve a slot before doing any work for a
 * new client (an RTMP socket, a WebSocket upgrade) and release it when the
 * client is gone.
 */
export class Connections {
  private count = 0;
  private readonly byType = new Map<string, number>();
  /** Connections refused because the limit was reached. */
  refused = 0;

  constructor(private readonly o: ConnectionsOptions) {}

  get current(): number {
    return this.count;
  }

  /** Open connections by type (unidentified ones as `pending`). */
  types(): ReadonlyMap<string, number> {
    return this.byType;
  }

  /** A slot for a new client, or a refusal reason when `maxConnections` is reached. */
  reserve(remoteAddress: string): ConnectionLease | { refused: string } {
    const max = this.o.max();
    if (max > 0 && this.count >= max) {
      this.refused++;
      return { refused: `too many connections (maxConnections: ${max})` };
    }
    this.count++;
    this.bump('pending', 1);
    let type = 'pending';
    let released = false;
    let disconnect: (() => void) | undefined;
    return {
      identify: (newType, id) => {
        if (released || type !== 'pending') return;
        this.bump('pending', -1);
        type = newType;
        this.bump(type, 1);
        disconnect = this.o.onConnect?.({ type, id, remoteAddress });
      },
      release: () => {
        if (released) return;
        released = true;
        this.count--;
        this.bump(type, -1);
        disconnect?.();
      },
    };
  }

  private bump(type: string, by: number): void {
    const n = (this.byType.get(type) ?? 0) + by;
    if (n === 0) this.byType.delete(type);
    else this.byType.set(type, n);
  }
}
