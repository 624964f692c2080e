/**
 * The group committer's lanes as a schedule, with an ingestor that records what it was asked
 * to record and finishes only when the test says so: two conversations on two lanes commit
 * side by side; a barrier (an event about a person) waits for both lanes to record what came
 * before it, is recorded alone, and what came after it on either lane waits for it.
 */
import { describe, expect, it } from 'vitest';
import type { InboundEvent, VerifiedWebhook } from '../../src/core/adapter.ts';
import { GroupCommitter, laneOf } from '../../src/core/inbound/group-commit.ts';
import type { Ingestor } from '../../src/core/inbound/ingestor.ts';
import { emptyResult, type IngestScope } from '../../src/core/inbound/scope.ts';

const scope = { adapter: { channel: 'whatsapp', account: 'acc' }, window: '24h' } as unknown as IngestScope;
const message = (conversation: string, name: string) => ({ kind: 'message', conversation: { externalId: conversation }, dedupeKey: name }) as unknown as InboundEvent;
const names = (events: ReadonlyArray<InboundEvent>) => events.map((e) => (e as { dedupeKey: string }).dedupeKey).join('+');

/** An ingestor whose transactions end when `finish` is called, in any order. */
function heldIngestor() {
  const started: string[] = [];
  const open = new Map<string, () => void>();
  const hold = (name: string) =>
    new Promise<void>((resolve) => {
      started.push(name);
      open.set(name, resolve);
    });
  const ingestor = {
    record: async (_scope: IngestScope, _webhook: unknown, events: InboundEvent[]) => {
      await hold(names(events));
      return emptyResult();
    },
    recordBatch: async (batch: ReadonlyArray<{ events: ReadonlyArray<InboundEvent> }>) => {
      await hold(batch.map((item) => names(item.events)).join(','));
      return batch.map(() => emptyResult());
    },
  } as unknown as Ingestor;
  const finish = async (name: string) => {
    open.get(name)!();
    open.delete(name);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return { ingestor, started, finish };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('group-commit lanes, scheduled', () => {
  // Two conversations that land on different lanes of two.
  const x = 'conv-x';
  const y = Array.from({ length: 40 }, (_, i) => `conv-y${i}`).find((c) => laneOf(scope.adapter, [message(c, '')], 2) !== laneOf(scope.adapter, [message(x, '')], 2))!;
  const metrics = { batchSize: { observe() {} }, queued: { set() {} } };
  const webhook = {} as VerifiedWebhook;

  it('commits two lanes side by side, and holds everything behind a barrier until both reached it', async () => {
    const { ingestor, started, finish } = heldIngestor();
    const committer = new GroupCommitter(ingestor, metrics, 256, 2);
    const done: string[] = [];
    const submit = (events: InboundEvent[]) => committer.submit(scope, webhook, events).then(() => done.push(names(events)));

    void submit([message(x, 'x1')]);
    void submit([message(y, 'y1')]);
    await settle();
    // Both lanes are in a transaction at once.
    expect(started).toEqual(['x1', 'y1']);

    void submit([{ kind: 'identity', dedupeKey: 'who' } as unknown as InboundEvent]);
    void submit([message(x, 'x2')]);
    void submit([message(y, 'y2')]);
    await settle();
    expect(started).toEqual(['x1', 'y1']);

    await finish('y1');
    // Lane y reached the barrier; lane x is still in x1: nothing new starts.
    expect(started).toEqual(['x1', 'y1']);
    await finish('x1');
    // Both lanes reached it: the barrier alone.
    expect(started).toEqual(['x1', 'y1', 'who']);
    await finish('who');
    expect(started.slice(3).sort()).toEqual(['x2', 'y2']);
    await finish('x2');
    await finish('y2');
    expect(done).toEqual(['y1', 'x1', 'who', 'x2', 'y2']);
  });

  it('batches what queued on a lane while it committed, in arrival order', async () => {
    const { ingestor, started, finish } = heldIngestor();
    const committer = new GroupCommitter(ingestor, metrics, 256, 2);
    void committer.submit(scope, webhook, [message(x, 'a')]);
    await settle();
    for (const name of ['b', 'c', 'd']) void committer.submit(scope, webhook, [message(x, name)]);
    await settle();
    await finish('a');
    expect(started).toEqual(['a', 'b,c,d']);
    await finish('b,c,d');
  });
});
