// One timer armed at the deadline a sans-IO core asks for (`nextDeadlineMs()`
// of the Raft core, the controller engine, the broker lifecycle). Drivers
// re-arm after every event; re-arming the same deadline costs nothing, a new
// one replaces the old, and an infinite one disarms. Deadlines are on the
// driver clock (`driverNowMs`).
export class DeadlineTimer {
  readonly #now: () => number;
  readonly #onFire: () => void;
  #timer: NodeJS.Timeout | undefined;
  #atMs = Number.POSITIVE_INFINITY;

  /** `onFire` runs with the timer already disarmed, so it may re-arm. */
  constructor(now: () => number, onFire: () => void) {
    this.#now = now;
    this.#onFire = onFire;
  }

  arm(deadlineMs: number): void {
    if (deadlineMs === this.#atMs && this.#timer) return;
    this.cancel();
    this.#atMs = deadlineMs;
    if (!Number.isFinite(deadlineMs)) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#atMs = Number.POSITIVE_INFINITY;
        this.#onFire();
      },
      Math.max(0, Math.ceil(deadlineMs - this.#now())),
    );
  }

  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#atMs = Number.POSITIVE_INFINITY;
  }
}
