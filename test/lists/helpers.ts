/**
 * Helpers for the list and search tests: a daemon with the outbound and contacts modules on
 * the WhatsApp sandbox, customers written through the fake, and the API over HTTP and NATS.
 */
import { API_TOKEN } from '../support/daemon.ts';
import { contactsExtension } from '../../src/merge/extension.ts';
import { customerWrites, startOutbound, type OutboundTest, type StartOptions } from '../outbound/helpers.ts';
import { ManualClock } from '../../src/core/clock.ts';

/** A daemon under test with both modules; its clock is a ManualClock. */
export type ListsTest = OutboundTest & { clock: ManualClock };

/** Starts the daemon. */
export async function startLists(options: Pick<StartOptions, 'testAccounts' | 'testQuota'> = {}): Promise<ListsTest> {
  // Well behind the real clock, so business time is what the daemon received at (ingest takes
  // the earlier of the platform's time and its own) even after tests advance it by days.
  const clock = new ManualClock(Date.now() - 30 * 24 * 3600_000);
  return (await startOutbound({ ...options, clock, extensions: [contactsExtension()] })) as ListsTest;
}

/** `GET /v1<route>` (or another method) with the test token. */
export async function call(o: OutboundTest, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${o.t.daemon.url}/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

/** A request/reply call on `<prefix>.v1.api.<endpoint>`. */
export async function ask(o: OutboundTest, endpoint: string, body: unknown): Promise<any> {
  const reply = await o.t.nc.request(`${o.t.prefix}.v1.api.${endpoint}`, JSON.stringify(body), { timeout: 15_000 });
  return reply.json();
}

/** A customer writes, one second of business time after the previous one (WhatsApp stamps in seconds). */
export async function writes(o: ListsTest, from: string, text: string, name?: string): Promise<{ contactId: string; conversationId: string }> {
  o.clock.advance(1_000);
  return customerWrites(o, from, text, name);
}

/** Every item of a list, page by page (`cursor` or `before`), checking each page's size. */
export async function everyPage(fetchPage: (cursor: string | null) => Promise<{ items: any[]; nextCursor: string | null }>, limit: number): Promise<{ items: any[]; pages: number }> {
  const items: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await fetchPage(cursor);
    if (page.items.length > limit) throw new Error(`page of ${page.items.length} items over limit ${limit}`);
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
    if (pages > 1000) throw new Error('paging does not end');
  } while (cursor);
  return { items, pages };
}
