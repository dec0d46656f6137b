/**
 * Asking a child Node process (started with `--inspect=127.0.0.1:0`) for a
 * full garbage collection and its heap in use, so that memory readings
 * count what the process holds, not what V8 would collect at its leisure.
 * Used by the soak and the fuzzers.
 */
import WebSocket from 'ws';

/** Node prints this on stderr when its inspector listens. */
const LISTENING = /^Debugger listening on (ws:\/\/\S+)/;

/** The inspector's WebSocket URL if `line` announces it. */
export function inspectorUrlIn(line: string): string | undefined {
  return LISTENING.exec(line)?.[1];
}

/** The inspector's own lines on stderr, which are not the process's output. */
export function isInspectorNoise(line: string): boolean {
  return LISTENING.test(line) || /^For help, see: https:\/\/nodejs.org|^Debugger attached|^Waiting for the debugger/.test(line);
}

/** A full collection, then the V8 heap in use in MiB; undefined if the inspector did not answer within 10 s. */
export async function collectGarbage(inspectorUrl: string): Promise<number | undefined> {
  const ws = new WebSocket(inspectorUrl);
  const replies = new Map<number, (result: unknown) => void>();
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { id?: number; result?: unknown };
    if (m.id !== undefined) replies.get(m.id)?.(m.result);
  });
  ws.on('error', () => undefined);
  let next = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      const id = ++next;
      replies.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  const work = (async () => {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await call('HeapProfiler.collectGarbage');
    const r = (await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true })) as { result?: { value?: number } };
    return typeof r.result?.value === 'number' ? r.result.value / 1048576 : undefined;
  })();
  try {
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000).unref());
    return await Promise.race([work.catch(() => undefined), timeout]);
  } finally {
    ws.terminate();
  }
}
