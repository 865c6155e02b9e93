#!/usr/bin/env node
// The `raftka` command line: one binary with a subcommand per job (run a
// node, start a local cluster, run the simulator, benchmarks, admin). Each
// subcommand lives in commands/ and is loaded lazily, so `raftka config docs`
// does not pay for loading gRPC and LevelDB.
import { tmpdir } from 'node:os';
import { isRaftkaError } from '@raftka/common';
import { Command, Option } from 'commander';
import { registerAdminCommands } from './commands/admin.js';
import { registerDataPlaneCommands } from './commands/produce.js';

const collect = (value: string, previous: string[]) => [...previous, value];

const program = new Command()
  .name('raftka')
  .description('Raftka: a Kafka-style replicated log cluster with a KRaft-style metadata quorum')
  .showHelpAfterError();

program
  .command('controller')
  .description('run one controller node (a voter of the metadata quorum)')
  .option('-c, --config <file>', 'properties file with node settings')
  .option('-o, --override <key=value>', 'set a config key (repeatable; wins over the file)', collect, [])
  .action(async (opts: { config?: string; override: string[] }) => {
    const { runController } = await import('./commands/controller.js');
    await runController(opts);
  });

program
  .command('broker')
  .description('run one broker node (a Raft observer of the metadata log that registers with the active controller)')
  .option('-c, --config <file>', 'properties file with node settings')
  .option('-o, --override <key=value>', 'set a config key (repeatable; wins over the file)', collect, [])
  .action(async (opts: { config?: string; override: string[] }) => {
    const { runBroker } = await import('./commands/broker.js');
    await runBroker(opts);
  });

program
  .command('local')
  .description(
    'start a local cluster on 127.0.0.1 (3 controllers, 3 brokers; data under ./data) and show its status until Ctrl-C',
  )
  .option('--data-dir <dir>', 'root data directory', './data')
  .option('--keep-data', 'keep the data of the previous run instead of starting fresh', false)
  .addOption(new Option('--controllers <n>', 'number of controllers').default(3).argParser(Number))
  .addOption(new Option('--brokers <n>', 'number of brokers (ids 101, 102, ...)').default(3).argParser(Number))
  .option('--base-port <port>', 'first controller port', (v) => Number(v), 19091)
  .option('--base-metrics-port <port>', 'first metrics port', (v) => Number(v), 19191)
  .action(async (opts) => {
    const { runLocal } = await import('./commands/local.js');
    await runLocal(opts);
  });

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`"${v}" is not an integer`);
  return n;
};

program
  .command('sim')
  .description('run the deterministic simulator over seeds; exits 1 on any invariant violation')
  .option('--seeds <n>', 'how many consecutive seeds to run', int)
  .option('--seed <n>', 'run (replay) exactly this seed', int)
  .option('--first-seed <n>', 'first seed of the range', int)
  .option('--voters <n>', 'voters per cluster (default: 3 or 5 per seed)', int)
  .option('--observers <n>', 'observers per cluster', int)
  .option('--scenario <name>', 'scenario name (default random)')
  .option('--max-sim-time-ms <ms>', 'simulated length of the fault phase', int)
  .option('--time-budget-ms <ms>', 'stop starting seeds after this much wall-clock time', int)
  .option('--trace', 'print the event trace of failing seeds')
  .option('--json', 'print a JSON summary as the last line')
  .option('--data-plane', 'simulate the data plane: brokers running the replication cores')
  .action(async (opts) => {
    const { runSimCommand } = await import('./commands/sim.js');
    process.exitCode = runSimCommand(opts);
  });

const bench = program.command('bench').description('benchmarks that print figures (last line JSON with --json)');
bench
  .command('quorum')
  .description('3 controller processes on loopback: writes/s, commit latency, failover after SIGKILL of the leader')
  .option('--json', 'print one JSON object as the last line')
  .option('--inflight <n>', 'appends in flight for the throughput phase', int, 64)
  .option('--seconds <n>', 'length of the throughput phase', int, 10)
  .option('--trials <n>', 'failover trials', int, 5)
  .option('--record-bytes <n>', 'bytes per record', int, 100)
  .option('--base-port <port>', 'first controller port', int, 19391)
  .option('-o, --override <key=value>', 'config override for every node (repeatable)', collect, [])
  .action(async (opts) => {
    const { runQuorumBench } = await import('./bench/quorum.js');
    const result = await runQuorumBench({
      ...opts,
      json: Boolean(opts.json),
      overrides: opts.override,
      log: (l) => console.log(l),
    });
    if (opts.json) console.log(JSON.stringify(result));
  });

bench
  .command('controller')
  .description(
    '3 controllers + 3 brokers on loopback: create partitions, propagation to brokers, leader moves after SIGKILL of a broker, controller failover',
  )
  .option('--json', 'print one JSON object as the last line')
  .option('--partitions <n>', 'partitions of the bench topic (RF 3)', int, 10_000)
  .option('--trials <n>', 'kill trials for each failover measurement', int, 5)
  .option('--base-port <port>', 'first controller port', int, 19491)
  .option('-o, --override <key=value>', 'config override for every node (repeatable)', collect, [])
  .action(async (opts) => {
    const { runControllerBench } = await import('./bench/controller.js');
    const result = await runControllerBench({
      json: Boolean(opts.json),
      partitions: opts.partitions,
      trials: opts.trials,
      basePort: opts.basePort,
      overrides: opts.override,
      log: (l) => console.log(l),
    });
    if (opts.json) console.log(JSON.stringify(result));
  });

bench
  .command('failover')
  .description(
    'URP and leader election: SIGKILL, restart, controlled shutdown, controller kill and isolation of a broker under steady acks=all produce; table, timeline chart (SVG, PNG)',
  )
  .option('--json', 'print one JSON object as the last line')
  .option('--partitions <n>', 'partitions of the bench topic (RF 3, min.insync.replicas=2)', int, 1000)
  .option('--scenarios <list>', 'kill,restart,shutdown,controller,isolate (or all)', 'all')
  .option('--catch-up-bytes <size>', 'written while the killed broker is down (e.g. 1GiB)', '64MiB')
  .option('--pause-ms <ms>', 'how long a stopped broker stays down, and the quiet stretch between faults', int, 3000)
  .option('--probe-interval-ms <ms>', 'the probe writes to each partition every this many ms', int, 200)
  .option('--recovery-timeout-ms <ms>', 'give up waiting for a recovery after this long (and report it)', int, 60_000)
  .option('--out <dir>', 'directory for the timeline JSON and chart (default: a fresh temp dir)')
  .option('--bootstrap <hosts>', 'a running cluster (broker host:port list) instead of a local one')
  .option('--docker-project <name>', 'apply faults to this docker compose project (with --bootstrap)')
  .option('--docker-network <name>', 'the compose network (default <project>_raftka)')
  .option(
    '--metrics <list>',
    'running cluster: broker metrics endpoints, id=host:port,... (default with --docker-project: their published ports)',
  )
  .option('--base-port <port>', 'local cluster first controller port', int, 24091)
  .option('--no-netns', 'local cluster on loopback even as root (the isolate scenario is then skipped)')
  .option('-o, --override <key=value>', 'config override for every node of the local cluster (repeatable)', collect, [])
  .action(async (opts) => {
    const { runFailoverCommand } = await import('./bench/failover-command.js');
    await runFailoverCommand(opts);
  });

bench
  .command('log')
  .description('partition log: append, read and recovery throughput against plain sequential writes')
  .option('--json', 'print one JSON object as the last line')
  .option('--dir <dir>', 'scratch directory (on the disk to measure)', tmpdir())
  .option('--size-gib <n>', 'GiB appended per run and recovered', Number, 1)
  .action(async (opts) => {
    const { runLogBench } = await import('@raftka/log');
    // With --json the bench prints its human-readable lines nowhere and the JSON object last.
    await runLogBench({ dir: opts.dir, json: Boolean(opts.json), sizeGiB: opts.sizeGib, log: (l) => console.log(l) });
  });

program
  .command('chaos')
  .description(
    'Jepsen-style run: idempotent acks=all producers and consumers under a seeded fault schedule, then heal, drain and check; exits 1 on any anomaly',
  )
  .option('--duration <d>', 'length of the fault phase (90s, 3m, 30m)', '3m')
  .option('--seed <n>', 'seed of the fault schedule (printed first; replays the schedule)', int)
  .option('--bootstrap <hosts>', 'a running cluster (broker host:port list); default: start a local cluster')
  .option('--faults <list>', 'fault kinds or groups: kill, pause, partition, restart, all, or single kinds', 'all')
  .option('--history <file>', 'history file (JSON lines); default <data dir>/history.jsonl')
  .option('--data-dir <dir>', 'local cluster data directory (default: a fresh temp dir)')
  .option('--base-port <port>', 'local cluster first controller port', int, 22091)
  .option('--no-netns', 'local cluster on loopback even when network namespaces are available (no partitions)')
  .option('--partitions <n>', 'partitions of the chaos topic', int, 6)
  .option('--producers <n>', 'producers', int, 3)
  .option('--consumers <n>', 'consumers (partitions assigned round-robin)', int, 3)
  .option('--rate <n>', 'sends per second per producer', int, 50)
  .option('--docker-project <name>', 'apply faults to this docker compose project (with --bootstrap)')
  .option('--docker-compose-file <file>', 'compose file (repeatable)', collect, [])
  .option('--docker-network <name>', 'the compose network (default <project>_raftka)')
  .option('--check <history>', 're-check a recorded history file instead of running')
  .option('--json', 'print a JSON summary as the last line')
  .action(async (opts) => {
    const { runChaosCommand } = await import('./commands/chaos.js');
    process.exitCode = await runChaosCommand(opts);
  });

registerAdminCommands(program);
registerDataPlaneCommands(program);

const config = program.command('config').description('configuration keys');
config
  .command('docs')
  .description('print every configuration key with its default and unit (Markdown)')
  .action(async () => {
    const { configTableMarkdown } = await import('./config.js');
    process.stdout.write(`${configTableMarkdown()}\n`);
  });
config
  .command('check')
  .description('validate a node configuration and print the effective values')
  .option('-c, --config <file>', 'properties file')
  .option('-o, --override <key=value>', 'set a config key (repeatable)', collect, [])
  .action(async (opts: { config?: string; override: string[] }) => {
    const { readNodeConfig } = await import('./commands/controller.js');
    const c = readNodeConfig(opts);
    for (const [k, v] of Object.entries(c.effective)) process.stdout.write(`${k}=${v}\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isRaftkaError(err)) {
    process.stderr.write(`raftka: ${err.errorName}: ${err.message}\n`);
  } else {
    // The message is for the user; the stack is for us (RAFTKA_DEBUG=1).
    const detail =
      err instanceof Error ? (process.env.RAFTKA_DEBUG ? (err.stack ?? err.message) : err.message) : String(err);
    process.stderr.write(`raftka: ${detail}\n`);
  }
  process.exit(1);
});
