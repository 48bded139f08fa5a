/**
 * Helpers for the client tests: waiting for a GatewayClient event with a timeout, and recording
 * every event a client emits.
 */
import type { GatewayClient, GatewayClientEvents } from '../../src/client/index.js';

type EventName = keyof GatewayClientEvents;

/** Resolves with the first argument of the next `event` (matching `predicate`); rejects after `timeoutMs`. */
export function nextEvent<K extends EventName>(
  client: GatewayClient,
  event: K,
  options: { timeoutMs?: number; predicate?: (arg: GatewayClientEvents[K][0]) => boolean } = {},
): Promise<GatewayClientEvents[K][0]> {
  const { timeoutMs = 5000, predicate } = options;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no '${String(event)}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on(event, ((arg: GatewayClientEvents[K][0]) => {
      if (predicate && !predicate(arg)) return;
      clearTimeout(timer);
      off();
      resolve(arg);
    }) as never);
  });
}

export interface Recorded {
  event: EventName;
  arg: unknown;
}

const EVENTS: EventName[] = ['connected', 'disconnected', 'reconnecting', 'closed', 'offer', 'answer', 'ice', 'bye', 'signal', 'invalid', 'error'];

/** Records every event of `client`, in order. */
export function record(client: GatewayClient): Recorded[] {
  const log: Recorded[] = [];
  for (const event of EVENTS) client.on(event, ((arg: unknown) => log.push({ event, arg })) as never);
  return log;
}

/** Polls `check` every 10 ms until it returns true; rejects after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
