/**
 * A tiny typed event emitter (node:events is not available in browsers).
 *
 * A listener that throws does not stop the other listeners nor the client's frame handling; its
 * error is rethrown in a microtask, where it surfaces like any uncaught error.
 */

/** Maps an event name to its listener's argument list. */
export type EventMap = Record<string, unknown[]>;
export type Listener<A extends unknown[]> = (...args: A) => void;

export class TypedEmitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener called at most once; returns a function that removes it. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (...args: E[K]) => {
      off();
      listener(...args);
    });
    return off;
  }

  /** Removes a listener added with `on` (not one added with `once`: use the function `once` returns). */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Number of listeners of `event`. */
  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Removes every listener of `event`, or of every event. */
  removeAllListeners(event?: keyof E): void {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
  }

  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<E[K]>)(...args);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
