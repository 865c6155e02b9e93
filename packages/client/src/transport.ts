// The seam between the accumulator and the network, designed now and built
// when brokers serve Produce: a sender loop calls accumulator.ready(nowMs),
// groups the drained batches by partition leader into ProduceRequests, sends
// each on a ProduceTransport (gRPC to Raftka brokers first), and hands every
// partition's answer back with accumulator.complete() or accumulator.fail().
// Nothing here does IO; it only fixes the shapes both sides agree on.
import type { Acks } from './config.js';

export interface ProducePartitionData {
  readonly partition: number;
  /** One RecordBatch v2, as DrainedBatch.encoded. */
  readonly records: Buffer;
}

export interface ProduceTopicData {
  readonly topic: string;
  readonly partitions: readonly ProducePartitionData[];
}

/** Kafka's ProduceRequest, the fields a non-transactional producer fills. */
export interface ProduceRequest {
  readonly acks: Acks;
  readonly timeoutMs: number;
  readonly topics: readonly ProduceTopicData[];
}

export interface ProducePartitionResponse {
  readonly partition: number;
  /** Kafka error code; 0 = NONE. */
  readonly errorCode: number;
  readonly baseOffset: number;
  /** -1 unless the topic uses LogAppendTime. */
  readonly logAppendTimeMs: number;
  readonly errorMessage?: string;
}

export interface ProduceResponse {
  readonly topics: readonly { readonly topic: string; readonly partitions: readonly ProducePartitionResponse[] }[];
}

/** Sends one ProduceRequest to one broker. Rejects with a retriable RaftkaError on network failure. */
export interface ProduceTransport {
  produce(brokerId: number, request: ProduceRequest): Promise<ProduceResponse>;
}
