// The control plane's node keys: which state machine the controllers run,
// the NoOp cadence, and cluster defaults validated by the metadata schema.
import { describe, expect, it } from 'vitest';
import { loadRawConfig, resolveConfig } from '../src/config.js';

const base = [
  'node.id=1',
  'process.roles=controller',
  'controller.quorum.voters=1@127.0.0.1:19091,2@127.0.0.1:19092,3@127.0.0.1:19093',
  'metadata.log.dir=/tmp/raftka-1',
];

const resolve = (lines: string[]) => resolveConfig(loadRawConfig(lines.join('\n'), 'test.properties', []));

describe('control-plane configuration', () => {
  it('defaults to the metadata state machine, a 500 ms NoOp cadence and no cluster defaults', () => {
    const c = resolve(base);
    expect(c.controllerStateMachine).toBe('metadata');
    expect(c.metadataMaxIdleIntervalMs).toBe(500);
    expect(c.brokerSessionTimeoutMs).toBe(9000);
    expect(c.clusterDefaults).toEqual({});
  });

  it('takes kv and cluster defaults in canonical form', () => {
    const c = resolve([
      ...base,
      'controller.state.machine=kv',
      'num.partitions=6',
      'default.replication.factor= 3',
      'auto.leader.rebalance.enable=FALSE',
    ]);
    expect(c.controllerStateMachine).toBe('kv');
    expect(c.clusterDefaults).toEqual({
      'num.partitions': '6',
      'default.replication.factor': '3',
      'auto.leader.rebalance.enable': 'false',
    });
    expect(c.effective['num.partitions']).toBe('6');
  });

  it('refuses bad values, with the reasons of the metadata schema', () => {
    expect(() => resolve([...base, 'controller.state.machine=sql'])).toThrow(/must be metadata or kv/);
    expect(() => resolve([...base, 'min.insync.replicas=0'])).toThrow(/0 is below the minimum 1/);
    expect(() => resolve([...base, 'leader.imbalance.per.broker.percentage=101'])).toThrow(/above the maximum 100/);
    expect(() => resolve([...base, 'metadata.max.idle.interval.ms=-1'])).toThrow(/at least 0/);
  });
});
