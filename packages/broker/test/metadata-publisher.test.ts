// The broker's metadata state machine: committed entries (data records between
// control entries) become images, each published with this broker's local
// changes; snapshots round-trip and publish the difference.
import { encodeRecord, type MetadataRecord } from '@raftka/metadata';
import type { LogEntry } from '@raftka/raft';
import { describe, expect, it } from 'vitest';
import { BrokerMetadataStateMachine, loggingListener, type MetadataUpdate } from '../src/metadata-publisher.js';

function entries(from: number, items: (MetadataRecord | 'control')[]): LogEntry[] {
  return items.map((item, i) => ({
    offset: from + i,
    epoch: 1,
    kind: item === 'control' ? 'leader-change' : 'data',
    data: item === 'control' ? new Uint8Array() : encodeRecord(item),
    appendTimeMs: 1000 + from + i,
  }));
}

const register = (brokerId: number): MetadataRecord => ({
  type: 'RegisterBroker',
  brokerId,
  incarnationId: `i-${brokerId}`,
  rack: null,
  listeners: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 9000 + brokerId }],
});

const key = (p: { topicName: string; partition: number }) => `${p.topicName}-${p.partition}`;

describe('BrokerMetadataStateMachine', () => {
  it('publishes each run of committed records with this broker local changes', () => {
    const sm = new BrokerMetadataStateMachine(101);
    const updates: MetadataUpdate[] = [];
    sm.addListener({ onMetadataUpdate: (u) => updates.push(u) });
    sm.apply(
      entries(0, [
        'control',
        register(101),
        register(102),
        'control',
        { type: 'Topic', name: 't', topicId: 'T' },
        {
          type: 'Partition',
          topicId: 'T',
          partition: 0,
          replicas: [101, 102],
          isr: [101, 102],
          leader: 101,
          leaderEpoch: 0,
          partitionEpoch: 0,
        },
        {
          type: 'Partition',
          topicId: 'T',
          partition: 1,
          replicas: [102, 101],
          isr: [102, 101],
          leader: 102,
          leaderEpoch: 0,
          partitionEpoch: 0,
        },
        {
          type: 'Partition',
          topicId: 'T',
          partition: 2,
          replicas: [102],
          isr: [102],
          leader: 102,
          leaderEpoch: 0,
          partitionEpoch: 0,
        },
      ]),
    );
    expect(sm.appliedOffset).toBe(8);
    expect(sm.lastAppliedOffset).toBe(7);
    expect(sm.lastAppliedAppendTimeMs).toBe(1007);
    expect(updates).toHaveLength(2);
    const last = updates[1] as MetadataUpdate;
    expect(last.changes.leaders.map(key)).toEqual(['t-0']);
    expect(last.changes.followers.map((f) => [key(f), f.leader])).toEqual([['t-1', 102]]);
    expect(last.fromSnapshot).toBe(false);

    // Broker 102 is fenced: 101 takes over t-1 in leader epoch 1.
    sm.apply(
      entries(8, [
        { type: 'BrokerRegistrationChange', brokerId: 102, brokerEpoch: 2, change: 'fence' },
        { type: 'PartitionChange', topicId: 'T', partition: 1, leader: 101, isr: [101], replicas: null },
      ]),
    );
    const fenced = updates[2] as MetadataUpdate;
    expect(fenced.changes.leaders.map((p) => [key(p), p.leaderEpoch])).toEqual([['t-1', 1]]);
    expect(fenced.image.broker(102)?.fenced).toBe(true);

    // A restarted broker restores the snapshot and publishes the whole image as one delta.
    const restarted = new BrokerMetadataStateMachine(101);
    const seen: MetadataUpdate[] = [];
    restarted.addListener({ onMetadataUpdate: (u) => seen.push(u) });
    restarted.restore({ id: { endOffset: sm.appliedOffset, epoch: 1 }, data: sm.snapshot() });
    expect(restarted.appliedOffset).toBe(10);
    expect(restarted.image.equals(sm.image)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.fromSnapshot).toBe(true);
    expect(seen[0]?.changes.leaders.map(key)).toEqual(['t-0', 't-1']);
  });

  it('refuses an entry out of order', () => {
    const sm = new BrokerMetadataStateMachine(1);
    expect(() => sm.apply(entries(1, [register(1)]))).toThrow(/next to apply is 0/);
  });

  it('logs local changes, with bounded partition lists', () => {
    const lines: { obj: Record<string, unknown>; msg: string }[] = [];
    const sm = new BrokerMetadataStateMachine(1);
    sm.addListener(
      loggingListener({
        info: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }),
        debug: () => {},
      }),
    );
    const records: MetadataRecord[] = [register(1), { type: 'Topic', name: 'big', topicId: 'B' }];
    for (let p = 0; p < 120; p++) {
      records.push({
        type: 'Partition',
        topicId: 'B',
        partition: p,
        replicas: [1],
        isr: [1],
        leader: 1,
        leaderEpoch: 0,
        partitionEpoch: 0,
      });
    }
    sm.apply(entries(0, records));
    expect(lines).toHaveLength(1);
    expect(lines[0]?.msg).toBe('local replica changes: lead 120, follow 0, delete 0');
    expect(lines[0]?.obj.lead).toHaveLength(50);
  });
});
