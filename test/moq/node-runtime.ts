/**
 * What @moq/net and @moq/qmux expect of their runtime that Node 20 lacks:
 * Promise.withResolvers (Node 22), and a global WebSocket for the QMux path.
 */
import { WebSocket } from 'ws';

const P = Promise as unknown as { withResolvers?: () => unknown };
P.withResolvers ??= () => {
  let resolve!: (v: unknown) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
};

const g = globalThis as unknown as { WebSocket?: unknown };
g.WebSocket ??= WebSocket;
