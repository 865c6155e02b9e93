// How long the controller's decisions take at cluster sizes that matter:
// fencing a broker that leads thousands of partitions (one batch of records),
// creating a large topic, replaying its records, and writing/loading the
// image snapshot. Run: npx vitest bench --run packages/metadata/bench
import { SeededRandom } from '@raftka/common';
import { bench, describe } from 'vitest';
import { MetadataImage, type MetadataRecord, QuorumController, replayAll } from '../src/index.js';

function cluster(brokers: number, partitions: number): { controller: QuorumController; records: MetadataRecord[] } {
  const controller = new QuorumController({ random: new SeededRandom(1) });
  controller.becomeActive(0);
  const records: MetadataRecord[] = [];
  const apply = (rs: readonly MetadataRecord[]) => {
    controller.replayBatch(rs, records.length);
    records.push(...rs);
    controller.commit(records.length - 1);
  };
  const epochs = new Map<number, number>();
  for (let id = 1; id <= brokers; id++) {
    const r = controller.registerBroker(
      { brokerId: id, incarnationId: `i${id}`, rack: `r${id % 3}`, listeners: [] },
      0,
    );
    epochs.set(id, records.length + r.response.registrationRecordIndex!);
    apply(r.records);
  }
  for (let id = 1; id <= brokers; id++) {
    apply(
      controller.brokerHeartbeat(
        {
          brokerId: id,
          brokerEpoch: epochs.get(id)!,
          currentMetadataOffset: records.length,
          wantFence: false,
          wantShutDown: false,
        },
        0,
      ).records,
    );
  }
  apply(controller.createTopics([{ name: 'big', numPartitions: partitions, replicationFactor: 3 }]).records);
  return { controller, records };
}

describe('controller decisions (6 brokers, 10,000 partitions, RF 3)', () => {
  const { controller, records } = cluster(6, 10_000);
  const snapshot = controller.image.toBytes();
  console.log(`image snapshot: ${snapshot.length} bytes for ${records.length} records`);

  bench('fence a broker (leader moves + ISR shrinks in one batch)', () => {
    const r = controller.brokerConnectionLost(1, controller.image.broker(1)!.brokerEpoch);
    if (r.records.length < 5000) throw new Error(`only ${r.records.length} records`);
  });
  bench('ElectLeaders(preferred) over every partition', () => {
    controller.electLeaders({ electionType: 'preferred', partitions: null });
  });
  bench('createTopics 10,000 partitions', () => {
    controller.createTopics([{ name: 'another', numPartitions: 10_000, replicationFactor: 3 }]);
  });
  bench('replay the whole log into an image', () => {
    replayAll(
      MetadataImage.EMPTY,
      records.map((record, offset) => ({ record, offset })),
    );
  });
  bench('image toBytes', () => {
    controller.image.toBytes();
  });
  bench('image fromBytes', () => {
    MetadataImage.fromBytes(snapshot);
  });
});
