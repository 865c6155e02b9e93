// When an idempotent producer takes a new producer id (a sequenced batch
// failed for good and left a gap), a batch that was already sent under the
// old id and waits for a retry may be in the log: sending it again under the
// new id would store it twice (the broker dedupes per producer id). It fails
// to the caller with an unknown outcome instead; batches never sent are
// sequenced again from 0 under the new id. (Found by the chaos suite: seven
// duplicate values after a controller pause, docker compose seed 11.)
import { isRaftkaError } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { RecordAccumulator, validateProducerConfig } from '../src/index.js';

const T0 = 1_700_000_000_000;
const tp = { topic: 'orders', partition: 0 };
const rec = (value: string) => ({ key: null, value: Buffer.from(value), timestamp: T0 });

describe('producer identity reset', () => {
  it('fails a batch already sent under the old id and re-sequences the unsent ones from 0', async () => {
    const acc = new RecordAccumulator(
      validateProducerConfig({ 'enable.idempotence': true, 'linger.ms': 0, 'retry.backoff.ms': 0 }),
      { producerIdentity: { producerId: 7, producerEpoch: 0 } },
    );
    const sent = await acc.append(tp, rec('sent-once'), T0);
    const [first] = acc.ready(T0);
    expect(first?.baseSequence).toBe(0);
    // A retriable failure: the batch goes back to the queue to be retried (its outcome is unknown).
    const outcome = sent.delivery.then(
      () => 'acknowledged',
      (e: unknown) => (isRaftkaError(e) ? e.errorName : String(e)),
    );
    expect(acc.fail(first!.batch, new Error('lost answer'), T0, true)).toBe(true);
    const fresh = await acc.append(tp, rec('never-sent'), T0);
    acc.resetProducerIdentity({ producerId: 8, producerEpoch: 0 });
    expect(await outcome).toBe('REQUEST_TIMED_OUT');
    const drained = acc.ready(T0 + 1);
    expect(drained).toHaveLength(1);
    expect(drained[0]?.producerId).toBe(8);
    expect(drained[0]?.baseSequence).toBe(0);
    expect(drained[0]?.recordCount).toBe(1);
    acc.complete(drained[0]!.batch, { baseOffset: 10 });
    expect((await fresh.delivery).offset).toBe(10);
  });
});
