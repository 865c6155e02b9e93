// `raftka bench quorum`: three controller processes on loopback, measured the
// way the etcd comparison was (same machine, same run):
//  - committed writes per second with many appends in flight,
//  - commit latency p50/p99 with one append in flight,
//  - time from SIGKILL of the active controller to the next committed write,
//    over several trials (the killed node is restarted and caught up between
//    trials).
// One write is one Append call carrying one record, as one etcd put is one
// key. fsync on our machines is cached by the host and far cheaper than on a
// real disk, which flatters commit latency; the figures say so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QuorumClient } from '@raftka/transport';
import { LocalCluster } from '../local-cluster.js';
import { nodeClients, quorumStatus } from '../quorum-status.js';
import { waitFor } from '../wait.js';
import { LatencyRecorder, median, round, table } from './stats.js';

export interface QuorumBenchOptions {
  json: boolean;
  inflight: number;
  seconds: number;
  trials: number;
  recordBytes: number;
  basePort: number;
  overrides: string[];
  log: (line: string) => void;
}

export interface QuorumBenchResult {
  writesPerSec: number;
  commitP50Ms: number;
  commitP99Ms: number;
  failoverMedianMs: number;
  failoverMaxMs: number;
  inflight: number;
  failoverTrialsMs: number[];
}

export async function runQuorumBench(o: QuorumBenchOptions): Promise<QuorumBenchResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftka-bench-quorum-'));
  // Raw Appends through the Quorum service need the key-value state machine.
  const cluster = new LocalCluster({
    dataDir,
    basePort: o.basePort,
    overrides: ['controller.state.machine=kv', ...o.overrides],
    logLevel: 'warn',
  });
  const clients = nodeClients(cluster.clusterId, cluster.endpoints);
  const writer = new QuorumClient({
    clusterId: cluster.clusterId,
    bootstrapEndpoints: cluster.endpoints.map((e) => `${e.host}:${e.port}`),
    requestTimeoutMs: 1000,
    retryBackoffMs: 5,
    appendTimeoutMs: 30_000,
  });
  const record = Buffer.alloc(o.recordBytes, 7);
  try {
    cluster.start();
    const leaderOf = async () => {
      const s = await quorumStatus(clients);
      return s.leaderId === -1 ? undefined : s;
    };
    await waitFor('an active controller', leaderOf, { timeoutMs: 30_000 });
    // Warm up connections and the JIT.
    await runFor(1000, 16, () => writer.append([record]));

    o.log(`throughput: ${o.inflight} appends in flight for ${o.seconds} s`);
    const committed = await runFor(o.seconds * 1000, o.inflight, () => writer.append([record]));
    const writesPerSec = committed / o.seconds;

    o.log('commit latency: one append in flight');
    const latency = new LatencyRecorder();
    await runFor(Math.min(o.seconds, 10) * 1000, 1, async () => {
      const t0 = performance.now();
      await writer.append([record]);
      latency.recordMs(performance.now() - t0);
    });

    const failovers: number[] = [];
    for (let trial = 1; trial <= o.trials; trial++) {
      const before = await waitFor('an active controller', leaderOf, { timeoutMs: 30_000 });
      await writer.append([record]);
      const t0 = performance.now();
      await cluster.kill(before.leaderId);
      await writer.append([record]);
      const ms = performance.now() - t0;
      failovers.push(ms);
      o.log(
        `failover trial ${trial}: killed controller ${before.leaderId} (epoch ${before.epoch}), next commit after ${round(ms)} ms`,
      );
      cluster.startNode(before.leaderId);
      await waitFor(
        `controller ${before.leaderId} to catch up`,
        async () => {
          const s = await quorumStatus(clients);
          const hws = s.nodes.map((n) => n.highWatermark);
          return s.leaderId !== -1 && s.nodes.every((n) => n.reachable) && Math.min(...hws) === Math.max(...hws);
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    }

    const result: QuorumBenchResult = {
      writesPerSec: round(writesPerSec, 0),
      commitP50Ms: round(latency.percentileMs(50), 2),
      commitP99Ms: round(latency.percentileMs(99), 2),
      failoverMedianMs: round(median(failovers), 0),
      failoverMaxMs: round(Math.max(...failovers), 0),
      inflight: o.inflight,
      failoverTrialsMs: failovers.map((f) => round(f, 0)),
    };
    o.log('');
    o.log(
      table([
        ['committed writes/s', `${result.writesPerSec} (${o.inflight} in flight, ${o.recordBytes} B records)`],
        ['commit latency p50', `${result.commitP50Ms} ms (one in flight)`],
        ['commit latency p99', `${result.commitP99Ms} ms`],
        ['failover median', `${result.failoverMedianMs} ms (SIGKILL of the active controller to next commit)`],
        ['failover max', `${result.failoverMaxMs} ms over ${o.trials} trials`],
        ['note', 'fsync on this machine is cached by the host; real disks make commits slower'],
      ]),
    );
    return result;
  } finally {
    writer.close();
    for (const c of clients.values()) c.close();
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Runs `op` from `concurrency` loops until `durationMs` passes; returns how many completed. */
async function runFor(durationMs: number, concurrency: number, op: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + durationMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    }),
  );
  return done;
}
