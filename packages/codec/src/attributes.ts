// The attributes field (int16 at offset 21) of a RecordBatch v2: which codec
// compressed the records, whose clock the timestamps are, and whether the
// batch belongs to a transaction or is a control (commit/abort marker) batch.

/** Kafka's compression codec ids, bits 0-2 of the batch attributes. */
export const CompressionCodec = {
  none: 0,
  gzip: 1,
  snappy: 2,
  lz4: 3,
  zstd: 4,
} as const;
export type CompressionCodec = (typeof CompressionCodec)[keyof typeof CompressionCodec];

/** Bit 3 of the attributes: CreateTime (0, the producer's clock) or LogAppendTime (1, the broker's). */
export const TimestampType = {
  createTime: 0,
  logAppendTime: 1,
} as const;
export type TimestampType = (typeof TimestampType)[keyof typeof TimestampType];

export const AttributeMasks = {
  compression: 0x07,
  timestampType: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
} as const;

const codecNames: Record<number, string> = { 0: 'none', 1: 'gzip', 2: 'snappy', 3: 'lz4', 4: 'zstd' };

/** Codec id (0-7) from the attributes; ids above 4 are not codecs Kafka knows. */
export function compressionOf(attributes: number): number {
  return attributes & AttributeMasks.compression;
}

export function isKnownCodec(id: number): id is CompressionCodec {
  return id >= 0 && id <= 4;
}

export function codecName(id: number): string {
  return codecNames[id] ?? `unknown(${id})`;
}

export function timestampTypeOf(attributes: number): TimestampType {
  return (attributes & AttributeMasks.timestampType) !== 0 ? TimestampType.logAppendTime : TimestampType.createTime;
}

export function isTransactional(attributes: number): boolean {
  return (attributes & AttributeMasks.transactional) !== 0;
}

export function isControl(attributes: number): boolean {
  return (attributes & AttributeMasks.control) !== 0;
}

export function makeAttributes(options: {
  compression: CompressionCodec;
  timestampType: TimestampType;
  transactional: boolean;
  control: boolean;
}): number {
  return (
    options.compression |
    (options.timestampType === TimestampType.logAppendTime ? AttributeMasks.timestampType : 0) |
    (options.transactional ? AttributeMasks.transactional : 0) |
    (options.control ? AttributeMasks.control : 0)
  );
}
