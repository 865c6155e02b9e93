// Assertions for programmer errors. A failed assertion is a bug in Raftka, not
// a condition of the world, so nothing is expected to catch it: the process
// crashes and its supervisor restarts it. Operational failures use the typed
// errors in errors.ts instead.

export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'function' ? message() : message);
  }
}

export function unreachable(value: never, what = 'value'): never {
  throw new AssertionError(`unreachable ${what}: ${JSON.stringify(value)}`);
}
