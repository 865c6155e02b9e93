// The Producer over real gRPC against a minimal broker in a child process
// that acknowledges every batch at once (offsets counted from the batch
// headers, nothing stored): records/s and MB/s one client process can push
// when the broker is not the bottleneck, per acks level. Records are 1 KiB
// and keyless over 6 partitions on one broker, batch.size 256 KiB,
// linger.ms 5, as `raftka perf produce` runs.
//
//   npx tsc -b packages/client && node packages/client/bench/producer.mjs [seconds] [recordBytes]
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

if (process.argv[2] === 'broker') {
  const { brokerDataService, TransportServer } = await import('@raftka/transport');
  const { readBatchHeader } = await import('@raftka/codec');
  const ends = new Map();
  const server = await TransportServer.start({
    nodeId: 1,
    clusterId: 'bench',
    host: '127.0.0.1',
    port: 0,
    maxMessageBytes: 64 * 1024 * 1024,
    services: [
      brokerDataService('bench', {
        async produce(req) {
          return {
            throttle_time_ms: 0,
            topics: req.topics.map((t) => ({
              name: t.name,
              partitions: t.partitions.map((p) => {
                const key = `${t.name}-${p.partition}`;
                const base = ends.get(key) ?? 0;
                ends.set(key, base + readBatchHeader(p.records).lastOffsetDelta + 1);
                return {
                  partition: p.partition,
                  error_code: 0,
                  error_message: '',
                  base_offset: base,
                  log_append_time_ms: -1,
                  log_start_offset: 0,
                };
              }),
            })),
          };
        },
        async fetch() {
          return { topics: [], throttle_time_ms: 0 };
        },
        async listOffsets() {
          return { topics: [] };
        },
        async metadata() {
          return {
            cluster_id: 'bench',
            controller_id: 1,
            brokers: [{ node_id: 1, host: '127.0.0.1', port: server.port, rack: '' }],
            topics: [
              {
                error_code: 0,
                name: 'bench',
                topic_id: 'b',
                partitions: Array.from({ length: 6 }, (_, i) => ({
                  error_code: 0,
                  partition: i,
                  leader_id: 1,
                  leader_epoch: 0,
                  replicas: [1],
                  isr: [1],
                  offline_replicas: [],
                })),
              },
            ],
          };
        },
        async initProducerId() {
          return { error_code: 0, error_message: '', producer_id: 1, producer_epoch: 0 };
        },
      }),
    ],
  });
  process.send?.(server.port);
} else {
  const { Producer } = await import('../dist/index.js');
  const seconds = Number(process.argv[2] ?? 5);
  const recordBytes = Number(process.argv[3] ?? 1024);
  const child = fork(new URL(import.meta.url).pathname, ['broker'], { stdio: 'inherit' });
  const port = await new Promise((resolve) => child.once('message', resolve));
  const value = Buffer.alloc(recordBytes, 7);
  for (const acks of ['all', '1', '0']) {
    const producer = new Producer({
      bootstrap: [`127.0.0.1:${port}`],
      config: { acks, 'batch.size': Number(process.env.BATCH ?? 262_144), 'linger.ms': 5 },
    });
    await producer.connect();
    const record = { topic: 'bench', value };
    let acked = 0;
    let outstanding = 0;
    const maxOutstanding = Math.floor(33_554_432 / (recordBytes + 80));
    let resume;
    const onDone = () => {
      acked++;
      outstanding--;
      if (resume && outstanding < maxOutstanding / 2) {
        const r = resume;
        resume = undefined;
        r();
      }
    };
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      for (let i = 0; i < 256 && outstanding < maxOutstanding; i++) {
        outstanding++;
        producer.produce(record, onDone);
      }
      if (outstanding >= maxOutstanding) await new Promise((r) => (resume = r));
      else await yieldToLoop();
    }
    await producer.flush();
    const sec = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await producer.close();
    console.log(
      `acks=${acks}: ${Math.round(acked / sec)} records/s, ${((acked * recordBytes) / sec / 1e6).toFixed(1)} MB/s, ` +
        `client CPU ${(((cpu.user + cpu.system) / 1e3 / (sec * 1e3)) * 100).toFixed(0)}%`,
    );
  }
  child.kill();
}
