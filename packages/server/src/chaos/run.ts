// One chaos run, start to verdict: the cluster (its own LocalCluster, in
// network namespaces when it can, or a running one), the topic, the
// workload and the nemesis side by side for the duration, then heal, wait
// for full ISR, drain, read the replicas' batch CRCs (own cluster only),
// and check. The seed fixes the fault schedule; the run prints it first.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin } from '@raftka/client';
import { LocalCluster } from '../local-cluster.js';
import { NetnsNetwork } from '../netns.js';
import { waitFor } from '../wait.js';
import { type CheckResult, checkHistory, formatVerdicts, type ReplicaBatch } from './checker.js';
import { History } from './history.js';
import { type FaultApplier, LocalClusterApplier, type NemesisReport, runNemesis } from './nemesis.js';
import { collectReplicaLogs } from './replicas.js';
import {
  describeFault,
  type FaultKind,
  generateSchedule,
  type ScheduledFault,
  type ScheduleOptions,
} from './schedule.js';
import { createChaosTopic, finalDrain, underReplicated, Workload, waitForFullIsr } from './workload.js';

/** Timings for a local chaos cluster: faults last seconds, so sessions and ISR lag must be short too. */
export const CHAOS_CLUSTER_OVERRIDES = [
  'controller.quorum.election.timeout.ms=500',
  'controller.quorum.fetch.timeout.ms=1000',
  'controller.quorum.fetch.max.wait.ms=250',
  'controller.quorum.request.timeout.ms=1000',
  'controller.quorum.election.backoff.max.ms=300',
  'broker.heartbeat.interval.ms=500',
  'broker.session.timeout.ms=3000',
  'replica.lag.time.max.ms=4000',
];

export interface ChaosOptions {
  seed: number;
  durationMs: number;
  kinds: readonly FaultKind[];
  /** A running cluster's broker endpoints; unset: start a local cluster. */
  bootstrap?: readonly string[];
  /** Applies faults to a running cluster (e.g. a DockerApplier); unset with bootstrap: no faults. */
  applier?: FaultApplier;
  /** History file (JSON lines); default `<dataDir>/history.jsonl`. */
  historyFile?: string;
  /** Local cluster data directory; default a fresh temp dir. */
  dataDir?: string;
  /** Local cluster first controller port (brokers +200, metrics +100/+300). Default 22091. */
  basePort?: number;
  /** Run the local cluster in network namespaces: 'auto' (when root with iproute2), or force on/off. */
  netns?: 'auto' | boolean;
  /** Namespace tag and 10.77.X.0/24 octet (several runs at once need different ones). Default 'cx', 71. */
  netnsTag?: string;
  netnsSubnet?: number;
  partitions?: number;
  producers?: number;
  consumers?: number;
  ratePerProducer?: number;
  /** Fault timing ranges (ms); see ScheduleOptions. */
  timings?: Partial<Pick<ScheduleOptions, 'warmupMs' | 'faultMinMs' | 'faultMaxMs' | 'quietMinMs' | 'quietMaxMs'>>;
  /** How long to wait for URP 0 after the heal. Default 120 s. */
  recoveryTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ChaosResult {
  seed: number;
  topic: string;
  historyFile: string;
  schedule: ScheduledFault[];
  /** Kinds asked for that this cluster cannot apply. */
  unsupportedKinds: FaultKind[];
  nemesis: NemesisReport;
  applierDescription: string;
  /** False when URP did not reach 0 in time (the checks still run). */
  recovered: boolean;
  drainComplete: boolean;
  /** Whether replica logs were compared (own cluster only). */
  replicasCompared: boolean;
  check: CheckResult;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? (() => {});
  const seed = options.seed;
  log(`chaos: seed ${seed} (replay with --seed ${seed})`);
  const own = options.bootstrap === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'raftka-chaos-'));
  const historyFile = options.historyFile ?? join(dataDir, 'history.jsonl');
  const partitions = options.partitions ?? 6;
  const basePort = options.basePort ?? 22091;

  let cluster: LocalCluster | null = null;
  let net: NetnsNetwork | null = null;
  let applier: FaultApplier | null = options.applier ?? null;
  let bootstrap = [...(options.bootstrap ?? [])];
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log(`chaos: cleanup: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };

  try {
    if (own) {
      const useNetns =
        options.netns === 'auto' || options.netns === undefined ? NetnsNetwork.available() : options.netns;
      if (useNetns) {
        net = new NetnsNetwork({
          tag: options.netnsTag ?? 'cx',
          subnet: options.netnsSubnet ?? 71,
          nodeIds: [1, 2, 3, 101, 102, 103],
        });
        net.setup();
        const n = net;
        cleanups.push(() => n.teardown());
      }
      cluster = new LocalCluster({
        dataDir: join(dataDir, 'cluster'),
        basePort,
        brokers: 3,
        baseMetricsPort: basePort + 100,
        overrides: CHAOS_CLUSTER_OVERRIDES,
        netns: net,
      });
      const c = cluster;
      cluster.start();
      cleanups.push(async () => {
        await c.stop();
        c.killAllNow();
      });
      applier = new LocalClusterApplier(cluster, { netns: net });
      bootstrap = cluster.brokerEndpoints;
      log(`chaos: local cluster in ${join(dataDir, 'cluster')} (3 controllers, 3 brokers at ${bootstrap.join(',')})`);
    }
    const a = applier;
    if (a !== null) cleanups.push(() => a.close());
    const applierDescription = a?.description ?? 'running cluster with no fault applier: no faults';
    log(`chaos: faults by ${applierDescription}`);

    const unsupportedKinds = options.kinds.filter((k) => a === null || !a.supports(k));
    if (unsupportedKinds.length > 0) log(`chaos: cannot apply here, left out: ${unsupportedKinds.join(', ')}`);
    const kinds = options.kinds.filter((k) => !unsupportedKinds.includes(k));
    const brokerIds = a?.brokerIds ?? [];
    const schedule = generateSchedule({ seed, durationMs: options.durationMs, kinds, brokerIds, ...options.timings });
    log(`chaos: schedule of ${schedule.length} faults over ${(options.durationMs / 1000).toFixed(0)} s:`);
    for (const f of schedule) log(`  ${describeFault(f)}`);

    const admin = new Admin({ bootstrap, requestTimeoutMs: 15_000, retryTimeoutMs: 30_000 });
    cleanups.push(() => admin.close());
    const topic = `chaos-${seed}-${Date.now().toString(36)}`;
    const replicationFactor = Math.min(3, Math.max(1, brokerIds.length || 3));
    await waitForBrokers(admin, own ? 3 : 1);
    await createChaosTopic(admin, topic, partitions, replicationFactor, Math.min(2, replicationFactor));
    log(`chaos: topic ${topic}: ${partitions} partitions, RF ${replicationFactor}, min.insync.replicas 2`);

    const history = new History(historyFile);
    cleanups.push(() => history.close());
    const workload = new Workload({
      bootstrap,
      topic,
      partitions,
      history,
      producers: options.producers,
      consumers: options.consumers,
      ratePerProducer: options.ratePerProducer,
      log,
    });
    const t0 = performance.now();
    workload.start();
    const progress = setInterval(() => {
      const c = workload.counts;
      log(
        `chaos: ${((performance.now() - t0) / 1000).toFixed(0)} s: sends ok ${c.ok}, failed ${c.fail}, unknown ${c.info}; read ${c.read}`,
      );
      history.flush();
    }, 10_000);
    cleanups.push(() => clearInterval(progress));

    const nemesis =
      a === null
        ? { applied: [], skipped: [] }
        : await runNemesis({
            applier: a,
            schedule,
            history,
            log,
            waitForFullIsr: () => waitForFullIsr(admin, topic, 60_000).catch((err) => log(`chaos: ${err.message}`)),
          });
    const leftMs = options.durationMs - (performance.now() - t0);
    if (leftMs > 0) await new Promise((r) => setTimeout(r, leftMs));
    log('chaos: fault phase over; stopping the workload (outstanding sends complete or time out)');
    await workload.stop();
    clearInterval(progress);

    log('chaos: healing everything and waiting for URP 0');
    await a?.healAll();
    history.add({ process: -1, f: 'nemesis', type: 'info', fault: 'heal all' });
    let recovered = true;
    const recoveryStart = performance.now();
    try {
      await waitForFullIsr(admin, topic, options.recoveryTimeoutMs ?? 120_000);
      log(`chaos: URP 0 after ${((performance.now() - recoveryStart) / 1000).toFixed(1)} s`);
    } catch {
      recovered = false;
      const urp = await underReplicated(admin, topic).catch(() => -1);
      log(`chaos: URP still ${urp} after the recovery timeout; checking anyway`);
    }

    const drain = await finalDrain({ bootstrap, topic, partitions, history, log }, 120_000);
    log(`chaos: final drain read ${drain.values} values${drain.complete ? '' : ' (INCOMPLETE)'}`);
    history.flush();

    let replicas: Map<number, Map<number, ReplicaBatch[]>> | undefined;
    if (cluster !== null) {
      // Stop the brokers (controlled shutdown) so their logs are still, then read the segment files.
      await cluster.stop();
      const logDirs = new Map(cluster.brokers.map((b) => [b.nodeId, join(b.dataDir, 'metadata', 'partitions')]));
      replicas = collectReplicaLogs(logDirs, topic, partitions);
    }
    const check = checkHistory({ ops: history.ops, endOffsets: drain.endOffsets, replicas });
    writeFileSync(
      `${historyFile}.final.json`,
      `${JSON.stringify({
        seed,
        topic,
        endOffsets: Object.fromEntries(drain.endOffsets),
        replicas:
          replicas === undefined ? null : Object.fromEntries([...replicas].map(([p, m]) => [p, Object.fromEntries(m)])),
      })}\n`,
    );
    log(formatVerdicts(check));
    log(`chaos: history in ${historyFile}; seed ${seed}`);
    return {
      seed,
      topic,
      historyFile,
      schedule,
      unsupportedKinds,
      nemesis,
      applierDescription,
      recovered,
      drainComplete: drain.complete,
      replicasCompared: replicas !== undefined,
      check,
    };
  } finally {
    await cleanup();
  }
}

async function waitForBrokers(admin: Admin, count: number): Promise<void> {
  await waitFor(`${count} brokers in the metadata`, async () => (await admin.metadata([])).brokers.length >= count, {
    timeoutMs: 60_000,
    intervalMs: 250,
  });
}
