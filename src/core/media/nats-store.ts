/**
 * Media bytes in a JetStream object store, so every replica serves what any replica fetched
 * (`media.store: nats`). Bytes are first staged on the local disk, where they are hashed,
 * capped and type-detected exactly as the file store does, then uploaded under their hash.
 * The bucket is opened lazily: while NATS is down, puts fail as `channel_unavailable` and the
 * media worker retries them later.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { StorageType, jetstream, jetstreamManager, type JetStreamOptions } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { OmniError } from '../errors.ts';
import { raiseReplicas } from '../nats/bus.ts';
import { createFileMediaStore, type MediaStore, type PutOptions, type StoredMedia } from './store.ts';

const KEY_PATTERN = /^[0-9a-f]{64}$/;

type Area = 'media' | 'quarantine';

/** A MediaStore backed by the object store bucket `<PREFIX>_MEDIA`, staging under `stagingDir`. */
export function createNatsMediaStore(options: {
  connection: () => NatsConnection | null;
  bucket: string;
  stagingDir: string;
  /** Copies JetStream keeps of the bucket (`nats.replicas`); default 1. */
  replicas?: number;
  /** A JetStream domain or API prefix (`nats.jsDomain` / `nats.apiPrefix`). */
  jetstream?: JetStreamOptions;
}): MediaStore {
  const staging = createFileMediaStore(options.stagingDir);
  let opened: Promise<ObjectStore> | null = null;

  const bucket = async (): Promise<ObjectStore> => {
    const nc = options.connection();
    if (!nc || nc.isClosed()) throw new OmniError('channel_unavailable', 'NATS is not connected; media store unavailable');
    opened ??= openBucket(nc, options.bucket, options.replicas ?? 1, options.jetstream).catch((error: unknown) => {
      opened = null;
      throw new OmniError('channel_unavailable', 'could not open the media bucket', { cause: error });
    });
    return opened;
  };
  /**
   * Runs an operation on the bucket; if it fails, the handle is dropped and the operation tried
   * once more on a fresh one, which re-creates a bucket lost with a wiped NATS store.
   */
  const withBucket = async <T>(op: (os: ObjectStore) => Promise<T>): Promise<T> => {
    try {
      return await op(await bucket());
    } catch {
      opened = null;
      return op(await bucket());
    }
  };
  const name = (area: Area, key: string) => `${area}/${key}`;

  async function upload(os: ObjectStore, area: Area, key: string, path: string): Promise<void> {
    const stream = Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>;
    await os.put({ name: name(area, key) }, stream);
  }

  async function move(key: string, from: Area, to: Area): Promise<boolean> {
    return withBucket((os) => moveIn(os, key, from, to));
  }

  async function moveIn(os: ObjectStore, key: string, from: Area, to: Area): Promise<boolean> {
    const bytes = await os.getBlob(name(from, key));
    if (!bytes) return false;
    await os.putBlob({ name: name(to, key) }, bytes);
    await os.delete(name(from, key));
    return true;
  }

  return {
    async put(source, putOptions: PutOptions): Promise<StoredMedia> {
      await bucket();
      const stored = await staging.put(source, { ...putOptions, quarantine: true });
      try {
        const local = `${options.stagingDir}/quarantine/${stored.key.slice(0, 2)}/${stored.key}`;
        await withBucket((os) => upload(os, putOptions.quarantine ? 'quarantine' : 'media', stored.key, local));
      } finally {
        await staging.delete(stored.key);
      }
      return stored;
    },
    async open(key) {
      if (!KEY_PATTERN.test(key)) return null;
      const result = await withBucket((os) => os.get(name('media', key)));
      if (!result) return null;
      return result.data as unknown as AsyncIterable<Uint8Array>;
    },
    async exists(key) {
      if (!KEY_PATTERN.test(key)) return false;
      const info = await withBucket((os) => os.info(name('media', key)));
      return Boolean(info && !info.deleted);
    },
    async quarantine(key) {
      checked(key);
      await move(key, 'media', 'quarantine');
    },
    async promote(key) {
      checked(key);
      if (!(await move(key, 'quarantine', 'media')) && !(await this.exists(key))) {
        throw new OmniError('not_found', 'no quarantined media with this key');
      }
    },
    async delete(key) {
      checked(key);
      await withBucket(async (os) => {
        for (const area of ['media', 'quarantine'] as const) {
          const info = await os.info(name(area, key));
          if (info && !info.deleted) await os.delete(name(area, key));
        }
      });
    },
    async *list() {
      const objects = await withBucket((os) => os.list());
      for (const object of objects) {
        const match = /^(?:media|quarantine)\/([0-9a-f]{64})$/.exec(object.name);
        if (match && !object.deleted) yield { key: match[1]!, storedAt: new Date(object.mtime) };
      }
    },
  };
}

/** Opens (or creates) the bucket; one made earlier with fewer copies is raised to `replicas`. */
async function openBucket(nc: NatsConnection, bucket: string, replicas: number, js: JetStreamOptions = {}): Promise<ObjectStore> {
  const os = await new Objm(jetstream(nc, js)).create(bucket, { storage: StorageType.File, replicas });
  if (replicas > 1) await raiseReplicas(await jetstreamManager(nc, js), `OBJ_${bucket}`, replicas);
  return os;
}

function checked(key: string): void {
  if (!KEY_PATTERN.test(key)) throw new OmniError('invalid_request', 'not a media key');
}
