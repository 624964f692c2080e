/**
 * Live updates for open console pages: one plain NATS subscription per replica on
 * `<prefix>.v1.evt.>` (every event the relay publishes to JetStream also reaches core
 * subscribers), fanned out to the server-sent-event streams of the pages that show the contact
 * an event is about. A status event names only its message, so its contact is looked up once.
 * Nothing is stored: a page that was away reloads what it shows, the stream is only "what's new".
 */
import { eq } from 'drizzle-orm';
import type { Subscription } from '@nats-io/transport-node';
import type { Db } from '../core/storage/db.ts';
import { identities, messages } from '../core/storage/schema.ts';
import type { Logger } from '../core/logger.ts';
import type { Bus } from '../core/nats/bus.ts';

/** What a page receives: the kind of event and the event itself. */
export interface LiveEvent {
  kind: 'message' | 'status' | 'session' | 'contact' | 'edited' | 'deleted';
  data: unknown;
}

/** One open page: the contact ids it shows (the contact and those merged into it), or every contact (the list). */
interface Listener {
  contacts: ReadonlySet<string> | 'all';
  send(event: LiveEvent): void;
}

const KINDS: ReadonlyArray<[RegExp, LiveEvent['kind']]> = [
  [/\.v1\.evt\.message\.(in|out)\./, 'message'],
  [/\.v1\.evt\.message\.status\./, 'status'],
  [/\.v1\.evt\.message\.edited\./, 'edited'],
  [/\.v1\.evt\.message\.deleted\./, 'deleted'],
  [/\.v1\.evt\.session\./, 'session'],
  [/\.v1\.evt\.contact\./, 'contact'],
];

/** Routes NATS events to the pages that show their contact. */
export class LiveHub {
  private readonly listeners = new Set<Listener>();
  private subscription: Subscription | null = null;
  private pump: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  /** Subscribes once NATS is there; safe to call again. */
  attach(bus: Bus): void {
    if (this.subscription) return;
    const subscription = bus.nc.subscribe(`${bus.prefix}.v1.evt.>`);
    this.subscription = subscription;
    this.pump = (async () => {
      for await (const message of subscription) {
        if (this.listeners.size === 0) continue;
        const kind = KINDS.find(([pattern]) => pattern.test(message.subject))?.[1];
        if (!kind) continue;
        try {
          const data = message.json<Record<string, unknown>>();
          await this.dispatch({ kind, data }, await this.contactsOf(kind, data));
        } catch (error) {
          this.logger.debug({ err: error, subject: message.subject }, 'console live event skipped');
        }
      }
    })();
  }

  get attached(): boolean {
    return this.subscription !== null;
  }

  /** Adds a page; returns how to remove it. */
  listen(contacts: ReadonlySet<string> | 'all', send: (event: LiveEvent) => void): () => void {
    const listener: Listener = { contacts, send };
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    await this.pump?.catch(() => undefined);
    this.subscription = null;
    this.listeners.clear();
  }

  private async dispatch(event: LiveEvent, contacts: string[]): Promise<void> {
    if (contacts.length === 0) return;
    for (const listener of this.listeners) {
      if (listener.contacts === 'all') {
        // The list only learns that someone new is active, not what they wrote.
        if (event.kind === 'message' || event.kind === 'contact') listener.send({ kind: event.kind, data: { contactId: contacts[0] } });
      } else if (contacts.some((id) => (listener.contacts as ReadonlySet<string>).has(id))) listener.send(event);
    }
  }

  /** The contact ids an event is about. */
  private async contactsOf(kind: LiveEvent['kind'], data: Record<string, any>): Promise<string[]> {
    switch (kind) {
      case 'message':
        return [data.contact?.id].filter(isId);
      case 'edited':
      case 'deleted':
      case 'session':
        return [data.contactId].filter(isId);
      case 'contact':
        return [data.contact?.id, data.survivorId, ...(Array.isArray(data.mergedIds) ? data.mergedIds : []), data.detached?.id].filter(isId);
      case 'status': {
        if (!isId(data.messageId)) return [];
        const [row] = await this.db
          .select({ contactId: identities.contactId })
          .from(messages)
          .innerJoin(identities, eq(identities.id, messages.identityId))
          .where(eq(messages.id, data.messageId))
          .limit(1);
        return row ? [row.contactId] : [];
      }
    }
  }
}

const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
