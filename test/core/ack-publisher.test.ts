/**
 * The relay's JetStream publisher against a real nats-server: acks matched by token under one
 * inbox subscription, duplicates reported by `Nats-Msg-Id`, and each failure named the way the
 * relay classifies it (no stream, refused by the stream, invalid subject, no ack in time).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPublisher } from '../../src/core/nats/ack-publisher.ts';
import { permanentFailure } from '../../src/core/outbox-dead-letters.ts';
import { natsUrl, uniquePrefix } from '../support/services.ts';

describe('AckPublisher', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const prefix = uniquePrefix();
  const stream = `ACKS_${prefix}`.replace(/[^A-Za-z0-9_]/g, '_');

  beforeAll(async () => {
    nc = await connect({ servers: natsUrl() });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.acks.>`], max_msg_size: 1024, duplicate_window: 60_000_000_000 });
  });
  afterAll(async () => {
    await jsm?.streams.delete(stream).catch(() => {});
    await nc?.close();
  });

  it('publishes many in flight, in order, and reports a repeated Nats-Msg-Id as a duplicate', async () => {
    const publisher = new AckPublisher(nc, 5_000);
    const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => publisher.publish(`${prefix}.acks.a`, JSON.stringify({ i }), `m-${i}`)));
    expect(acks.map((ack) => ack.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(acks.every((ack) => ack.stream === stream && !ack.duplicate)).toBe(true);
    const again = await publisher.publish(`${prefix}.acks.a`, JSON.stringify({ i: 7 }), 'm-7');
    expect(again).toMatchObject({ duplicate: true, seq: 8 });
    expect((await jsm.streams.info(stream)).state.messages).toBe(200);
    expect(publisher.inFlight).toBe(0);
    publisher.close();
  });

  it('names each failure as the relay classifies it', async () => {
    const publisher = new AckPublisher(nc, 5_000);
    const noStream = await publisher.publish(`${prefix}.nowhere`, '{}', 'x-1').catch((error: Error) => error);
    expect(noStream).toMatchObject({ name: 'NoRespondersError' });
    expect(permanentFailure(noStream, 1 << 20, true, true)).toMatchObject({ reason: 'no_stream' });

    const tooLarge = await publisher.publish(`${prefix}.acks.big`, 'x'.repeat(4_096), 'x-2').catch((error: Error) => error);
    expect(tooLarge).toMatchObject({ name: 'JetStreamApiError', status: 400 });
    expect(permanentFailure(tooLarge, 1 << 20, true, true)).toMatchObject({ reason: 'too_large' });

    const invalid = await publisher.publish(`${prefix}.bad subject`, '{}', 'x-3').catch((error: Error) => error);
    expect(permanentFailure(invalid, 1 << 20, true, true)).toMatchObject({ reason: 'invalid_subject' });
    publisher.close();
  });

  it('fails what gets no ack in time as a timeout, which the relay retries', async () => {
    // A plain subscriber answers nothing: the message is delivered, no stream acks it.
    const silent = nc.subscribe(`${prefix}.silent`);
    const publisher = new AckPublisher(nc, 200);
    const error = await publisher.publish(`${prefix}.silent`, '{}', 'x-4').catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(permanentFailure(error, 1 << 20, true, true)).toBeNull();
    expect(publisher.inFlight).toBe(0);
    silent.unsubscribe();
    publisher.close();
  });

  it('fails what is still in flight when closed, instead of leaving it pending', async () => {
    const silent = nc.subscribe(`${prefix}.silent2`);
    const publisher = new AckPublisher(nc, 60_000);
    const pending = publisher.publish(`${prefix}.silent2`, '{}', 'x-5').catch((e: Error) => e);
    publisher.close();
    expect(await pending).toMatchObject({ name: 'TimeoutError' });
    silent.unsubscribe();
  });
});
