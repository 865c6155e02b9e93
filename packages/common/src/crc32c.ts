// CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2 and of every
// value Raftka persists. Backed by @node-rs/crc32, which uses the SSE4.2/ARMv8
// CRC instructions; crc32c("123456789") = 0xE3069283.
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export function crc32c(data: Uint8Array, initial = 0): number {
  return (
    nativeCrc32c(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), initial) >>>
    0
  );
}
