import { describe, expect, it } from 'vitest';
import {
  type LocalReplicaChanges,
  localChanges,
  type MetadataDelta,
  type MetadataImage,
  MetadataLoader,
} from '../src/index.js';
import { Harness } from './harness.js';

/** Feeds the harness log from `from` into a loader as one committed batch and returns broker `id`'s local changes. */
function changesSince(h: Harness, loader: MetadataLoader, from: number, id: number): LocalReplicaChanges {
  let seen: LocalReplicaChanges | null = null;
  const publisher = (delta: MetadataDelta, image: MetadataImage) => {
    seen = localChanges(delta, image, id);
  };
  loader.addPublisher(publisher);
  loader.handleCommit(
    h.log.slice(from).map((r) => r.record),
    from,
  );
  expect(seen).not.toBeNull();
  return seen!;
}

const key = (p: { topicName: string; partition: number }) => `${p.topicName}-${p.partition}`;

describe('localChanges', () => {
  it('tells a broker what to lead, follow (with leader and epoch) and delete', () => {
    const h = new Harness();
    h.addBrokers([1, 2, 3]);
    const loader = new MetadataLoader();
    loader.handleCommit(
      h.log.map((r) => r.record),
      0,
    );

    let from = h.endOffset;
    h.apply(
      h.controller.createTopics([
        {
          name: 't',
          assignments: [
            [1, 2],
            [2, 1],
            [2, 3],
          ],
        },
      ]),
    );
    let changes = changesSince(h, loader, from, 1);
    expect(changes.leaders.map(key)).toEqual(['t-0']);
    expect(changes.followers.map((f) => [key(f), f.leader, f.leaderEpoch])).toEqual([['t-1', 2, 0]]);
    expect(changes.deletes).toEqual([]);

    // Broker 2 is fenced: broker 1 now leads t-1 in a new leader epoch; broker 1 still follows nothing new.
    from = h.endOffset;
    h.timeOut(2);
    changes = changesSince(h, loader, from, 1);
    expect(changes.leaders.map((l) => [key(l), l.leaderEpoch])).toEqual([
      ['t-0', 0],
      ['t-1', 1],
    ]);
    // Broker 3 takes over t-2, which broker 2 led.
    const for3 = localChanges(deltaSince(h, from), loader.image, 3);
    expect(for3.leaders.map((l) => [key(l), l.leader, l.leaderEpoch])).toEqual([['t-2', 3, 1]]);

    from = h.endOffset;
    h.apply(h.controller.deleteTopics(['t']));
    changes = changesSince(h, loader, from, 1);
    expect(changes.deletes.map(key)).toEqual(['t-0', 't-1']);
    expect(changes.leaders).toEqual([]);
    expect(loader.image.equals(h.image)).toBe(true);
  });

  it('publishes a snapshot load as the difference to the previous image', () => {
    const h = new Harness();
    h.addBrokers([1, 2]);
    h.createTopic('a', 2, 2);
    h.apply(h.controller.createTopics([{ name: 'gone', assignments: [[1]] }]));
    const loader = new MetadataLoader();
    loader.handleCommit(
      h.log.map((r) => r.record),
      0,
    );
    h.apply(h.controller.deleteTopics(['gone']));
    h.createTopic('b', 2, 2);
    const published: LocalReplicaChanges[] = [];
    loader.addPublisher((delta, image) => published.push(localChanges(delta, image, 1)));
    loader.loadSnapshot(h.image.toBytes());
    expect(loader.image.equals(h.image)).toBe(true);
    const [changes] = published;
    const touched = [...changes!.leaders, ...changes!.followers].map(key).sort();
    expect(touched).toEqual(['b-0', 'b-1']);
    expect(changes!.deletes.map(key)).toEqual(['gone-0']);
  });
});

/** A delta rebuilt from the log since `from`, for asking on behalf of another broker. */
function deltaSince(h: Harness, from: number): MetadataDelta {
  const loader = new MetadataLoader();
  loader.handleCommit(
    h.log.slice(0, from).map((r) => r.record),
    0,
  );
  let captured: MetadataDelta | null = null;
  loader.addPublisher((delta) => {
    captured = delta;
  });
  loader.handleCommit(
    h.log.slice(from).map((r) => r.record),
    from,
  );
  return captured!;
}
