/** A minimal typed emitter. Listener errors are isolated so that one bad listener cannot break the session. */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  // Created on the first `on`: many sessions (a server pool's) never get a listener.
  #listeners: Map<keyof Events, Set<Events[keyof Events]>> | undefined;

  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    const listeners = (this.#listeners ??= new Map());
    let set = listeners.get(event);
    if (set === undefined) listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.#listeners?.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (error) {
        // Surface listener bugs without unwinding the session's own work.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
