// The Broker service over real gRPC: record bytes arrive as the same bytes,
// int64 fields as numbers, absent messages as null, and a request-level
// RaftkaError comes back to the client with its Kafka code.
import { RaftkaError } from '@raftka/common';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BrokerDataClient,
  type BrokerDataHandlers,
  brokerDataService,
  type FetchRequestWire,
  type ProduceRequestWire,
  TransportServer,
} from '../src/index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(handlers: Partial<BrokerDataHandlers>): Promise<{ endpoint: string; client: BrokerDataClient }> {
  const fail = () => Promise.reject(new RaftkaError('UNSUPPORTED_VERSION', 'not in this test'));
  const server = await TransportServer.start({
    nodeId: 101,
    clusterId: 'c1',
    host: '127.0.0.1',
    port: 0,
    maxMessageBytes: 8 * 1024 * 1024,
    services: [
      brokerDataService('c1', {
        produce: fail,
        fetch: fail,
        listOffsets: fail,
        metadata: fail,
        initProducerId: fail,
        ...handlers,
      }),
    ],
  });
  cleanups.push(() => server.close(10));
  const client = new BrokerDataClient({ clusterId: 'c1' });
  cleanups.push(() => client.close());
  return { endpoint: `127.0.0.1:${server.port}`, client };
}

describe('Broker data service', () => {
  it('carries record bytes and large offsets unchanged', async () => {
    let seen: ProduceRequestWire | undefined;
    const { endpoint, client } = await serve({
      produce: async (req) => {
        seen = req;
        return {
          topics: [
            {
              name: 't',
              partitions: [
                {
                  partition: 2,
                  error_code: 0,
                  error_message: '',
                  base_offset: 2 ** 40,
                  log_append_time_ms: -1,
                  log_start_offset: 0,
                },
              ],
            },
          ],
          throttle_time_ms: 0,
        };
      },
    });
    const records = Buffer.from([0, 1, 2, 255, 254]);
    const res = await client.produce(
      endpoint,
      { acks: -1, timeout_ms: 1000, topics: [{ name: 't', partitions: [{ partition: 2, records }] }] },
      Date.now() + 5000,
    );
    expect(seen?.acks).toBe(-1);
    expect(seen?.cluster_id).toBe('c1');
    expect(Buffer.compare(seen!.topics[0]!.partitions[0]!.records, records)).toBe(0);
    expect(res.topics[0]!.partitions[0]!.base_offset).toBe(2 ** 40);
  });

  it('reads an absent diverging epoch as null and passes the fetch fields', async () => {
    let seen: FetchRequestWire | undefined;
    const { endpoint, client } = await serve({
      fetch: async (req) => {
        seen = req;
        return {
          topics: [
            {
              topic_id: 'id',
              name: 't',
              partitions: [
                {
                  partition: 0,
                  error_code: 0,
                  error_message: '',
                  high_watermark: 5,
                  log_start_offset: 0,
                  diverging_epoch: null,
                  current_leader: null,
                  records: Buffer.alloc(0),
                },
              ],
            },
          ],
          throttle_time_ms: 0,
        };
      },
    });
    const res = await client.fetch(
      endpoint,
      {
        replica_id: 102,
        replica_epoch: 7,
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: [
          {
            topic_id: 'id',
            name: 't',
            partitions: [
              {
                partition: 0,
                current_leader_epoch: 3,
                fetch_offset: 9,
                last_fetched_epoch: 2,
                partition_max_bytes: 1 << 20,
              },
            ],
          },
        ],
      },
      Date.now() + 5000,
    );
    expect(seen?.replica_id).toBe(102);
    expect(seen?.topics[0]?.partitions[0]?.last_fetched_epoch).toBe(2);
    const p = res.topics[0]!.partitions[0]!;
    expect(p.diverging_epoch).toBeNull();
    expect(p.high_watermark).toBe(5);
    expect(p.records.length).toBe(0);
  });

  it('returns a request-level error with its Kafka code; another cluster is refused', async () => {
    const { endpoint, client } = await serve({});
    await expect(client.metadata(endpoint, null, Date.now() + 5000)).rejects.toMatchObject({
      errorName: 'UNSUPPORTED_VERSION',
    });
    const stranger = new BrokerDataClient({ clusterId: 'other' });
    cleanups.push(() => stranger.close());
    await expect(stranger.metadata(endpoint, null, Date.now() + 5000)).rejects.toMatchObject({
      errorName: 'INVALID_CLUSTER_ID',
    });
    const anonymous = new BrokerDataClient({});
    cleanups.push(() => anonymous.close());
    await expect(anonymous.metadata(endpoint, null, Date.now() + 5000)).rejects.toMatchObject({
      errorName: 'UNSUPPORTED_VERSION',
    });
  });

  it('maps an unreachable broker to a retriable NETWORK_EXCEPTION', async () => {
    const client = new BrokerDataClient({ clusterId: 'c1' });
    cleanups.push(() => client.close());
    await expect(client.metadata('127.0.0.1:1', null, Date.now() + 2000)).rejects.toMatchObject({
      errorName: expect.stringMatching(/NETWORK_EXCEPTION|REQUEST_TIMED_OUT/),
    });
  });

  it('delivers ProduceStream requests in the order sent, a large one first, and matches each answer', async () => {
    const order: number[] = [];
    const { endpoint, client } = await serve({
      produce: async (req) => {
        const size = req.topics[0]?.partitions[0]?.records.length ?? 0;
        order.push(size);
        // Later requests answer first: answers are matched by correlation id, not order.
        await new Promise((r) => setTimeout(r, size > 1000 ? 50 : 0));
        return {
          topics: [
            {
              name: 't',
              partitions: [
                {
                  partition: 0,
                  error_code: 0,
                  error_message: '',
                  base_offset: size,
                  log_append_time_ms: -1,
                  log_start_offset: 0,
                },
              ],
            },
          ],
          throttle_time_ms: 0,
        };
      },
    });
    const sizes = [4 * 1024 * 1024, 10, 20, 30];
    const answers = await Promise.all(
      sizes.map((n) =>
        client.produceOrdered(
          endpoint,
          {
            acks: -1,
            timeout_ms: 1000,
            topics: [{ name: 't', partitions: [{ partition: 0, records: Buffer.alloc(n) }] }],
          },
          Date.now() + 10_000,
        ),
      ),
    );
    expect(order).toEqual(sizes);
    expect(answers.map((a) => a.topics[0]?.partitions[0]?.base_offset)).toEqual(sizes);
  });

  it('answers a refused ProduceStream request with its error and keeps the stream for the next', async () => {
    let calls = 0;
    const { endpoint } = await serve({
      produce: async () => {
        calls++;
        return { topics: [], throttle_time_ms: 0 };
      },
    });
    const stranger = new BrokerDataClient({ clusterId: 'other' });
    cleanups.push(() => stranger.close());
    await expect(
      stranger.produceOrdered(endpoint, { acks: 1, timeout_ms: 100, topics: [] }, Date.now() + 5000),
    ).rejects.toMatchObject({ errorName: 'INVALID_CLUSTER_ID' });
    const anonymous = new BrokerDataClient({});
    cleanups.push(() => anonymous.close());
    await anonymous.produceOrdered(endpoint, { acks: 1, timeout_ms: 100, topics: [] }, Date.now() + 5000);
    await anonymous.produceOrdered(endpoint, { acks: 1, timeout_ms: 100, topics: [] }, Date.now() + 5000);
    expect(calls).toBe(2);
  });
});
