// Shared kernel of Raftka: assertions, the error catalog, injected time and
// randomness, and CRC-32C. Every other package may depend on this one; it
// depends on nothing of ours.
export { AssertionError, assert, unreachable } from './assert.js';
export { crc32c } from './crc32c.js';
export { ErrorCodes, type ErrorName, errorNameOf, isRaftkaError, RaftkaError } from './errors.js';
export { type Clock, type Random, SeededRandom } from './time.js';
