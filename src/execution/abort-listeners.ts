/**
 * One abort listener per signal, however many users share the signal. A job's queued launches
 * and its watches all hang on one signal, and `addEventListener` costs time linear in the
 * listeners already there: a listener per user made queueing 10,000 task slots quadratic.
 */
export class SharedAbortListeners {
  readonly #onAbort: (signal: AbortSignal) => void;
  readonly #bySignal = new Map<AbortSignal, { users: number; readonly listener: () => void }>();

  /** `onAbort` is called once per aborted signal that still had users, which it must end. */
  constructor(onAbort: (signal: AbortSignal) => void) {
    this.#onAbort = onAbort;
  }

  /** Counts one more user of `signal`; the first adds the listener. */
  join(signal: AbortSignal): void {
    const known = this.#bySignal.get(signal);
    if (known !== undefined) {
      known.users++;
      return;
    }
    const listener = (): void => {
      this.#bySignal.delete(signal);
      this.#onAbort(signal);
    };
    this.#bySignal.set(signal, { users: 1, listener });
    signal.addEventListener("abort", listener, { once: true });
  }

  /** One user of `signal` is done with it; the last removes the listener. */
  leave(signal: AbortSignal): void {
    const known = this.#bySignal.get(signal);
    if (known === undefined || --known.users > 0) return;
    this.#bySignal.delete(signal);
    signal.removeEventListener("abort", known.listener);
  }
}
