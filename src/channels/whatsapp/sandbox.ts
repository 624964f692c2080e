/**
 * The WhatsApp sandbox: a fake Graph API speaking Meta's wire formats, and the customer
 * simulator. The daemon serves the fake at `/sandbox/whatsapp` and points sandbox accounts'
 * `apiBase` there; tests serve it on their own. Routes are grouped by Graph capability
 * (`sandbox-media.ts`, `sandbox-messages.ts`) and share one `FakeState`; the generic parts
 * (app, accounts, tokens, media store, windows, failure queue, status pump) are the sandbox kit's.
 *
 * Mounting: the fake matches full request paths, so pass it the request unchanged with
 * `createFake({ ..., basePath: '/sandbox/whatsapp' })` (e.g. `app.all('/sandbox/whatsapp/*',
 * (c) => fake.fetch(c.req.raw))`). Do not use Hono's `app.mount`, which strips the prefix: the
 * fake needs it to hand out absolute download URLs.
 */
import type { Context } from 'hono';
import type { FakeOptions, SandboxDefinition, SandboxFake } from '../../core/adapter.ts';
import { systemClock } from '../../core/clock.ts';
import { createFakeApp } from '../../sandbox/index.ts';
import type { WhatsAppSettings } from './config.ts';
import {
  authenticate,
  displayPhoneNumber,
  graphJson,
  indexAccounts,
  invalidParameter,
  invalidToken,
  unknownError,
  unknownObject,
  unknownPath,
  wabaIdOf,
  type FakeState,
  type WhatsAppAccount,
} from './sandbox-graph.ts';
import { INBOUND_RETENTION_MS, createMediaStore, lookupMedia, registerMediaRoutes } from './sandbox-media.ts';
import { registerMessageRoutes, type FakeMessagesOptions, type WhatsAppFakeMessages } from './sandbox-messages.ts';
import { buildStatusWebhook, newWamid, signWhatsAppBody, simulateInbound } from './sandbox-webhooks.ts';
import { createSignalLog, type SignalLog } from './sandbox-signals.ts';
import { registerCatalogRoutes, type FakeCatalogOptions, type WhatsAppFakeCatalog } from './sandbox-templates-catalog.ts';

export { buildStatusWebhook, newWamid, signWhatsAppBody, simulateInbound };
export type { StatusInput } from './sandbox-webhooks.ts';
export type { RecordedSignal } from './sandbox-signals.ts';
export { DEFAULT_TEMPLATES } from './sandbox-messages.ts';
export { defaultCatalog, graphTemplate, templateWebhook, type GraphTemplate, type FakeCatalogOptions, type WhatsAppFakeCatalog } from './sandbox-templates-catalog.ts';
export type { FakeFailure, FakeMessagesOptions, FakeTemplate, SentMessage, StatusRecord, WhatsAppFakeMessages } from './sandbox-messages.ts';

/** Graph versions look like `v23.0`; anything else is an unknown path, as on Graph. */
const VERSION = ':version{v[0-9]+\\.[0-9]+}';

/** Options of the WhatsApp fake: the common ones plus the path prefix it is served under. */
export interface WhatsAppFakeOptions extends FakeOptions<WhatsAppSettings> {
  /** Prefix of every route, e.g. `/sandbox/whatsapp` in the daemon; default '' (served at `/`). */
  basePath?: string;
  /** How the send endpoint behaves (window failures, throughput, receipts, templates). */
  messages?: FakeMessagesOptions;
  /** The WABA template catalog the fake serves. */
  catalog?: FakeCatalogOptions;
}

/** The WhatsApp fake: the common fake plus hooks to steer and inspect the send endpoint. */
export interface WhatsAppFake extends SandboxFake<WhatsAppSettings>, WhatsAppFakeMessages, WhatsAppFakeCatalog {
  /** Mark-as-read and typing requests the fake accepted, exactly as sent. */
  signals: SignalLog['signals'];
}

// The fields Graph returns for a phone number node; with no `fields` the default set is the
// first seven, as on Graph.
const PHONE_NUMBER_FIELDS: Readonly<Record<string, (phoneNumberId: string) => unknown>> = {
  verified_name: () => 'Omnibus Sandbox',
  code_verification_status: () => 'VERIFIED',
  display_phone_number: (id) => formatDisplayNumber(displayPhoneNumber(id)),
  quality_rating: () => 'GREEN',
  platform_type: () => 'CLOUD_API',
  throughput: () => ({ level: 'STANDARD' }),
  id: (id) => id,
  name_status: () => 'APPROVED',
  status: () => 'CONNECTED',
  messaging_limit_tier: () => 'TIER_1K',
  is_official_business_account: () => false,
};
const DEFAULT_PHONE_NUMBER_FIELDS = Object.keys(PHONE_NUMBER_FIELDS).slice(0, 7);

/** `15551234567` → `+1 555-123-4567`, the way Graph formats a number on the node. */
function formatDisplayNumber(digits: string): string {
  return `+1 ${digits.slice(1, 4)}-${digits.slice(4, 7)}-${digits.slice(7)}`;
}

/** `GET /{version}/{phone-number-id}?fields=…`: what the adapter's credential check reads. */
function phoneNumberNode(c: Context, phoneNumberId: string): Response {
  const requested = c.req.query('fields');
  const names =
    requested === undefined || requested.trim() === ''
      ? DEFAULT_PHONE_NUMBER_FIELDS
      : requested.split(',').map((field) => field.split('{')[0]!.trim()).filter((field) => field !== '');
  const node: Record<string, unknown> = {};
  for (const name of names) {
    const field = PHONE_NUMBER_FIELDS[name];
    if (field === undefined) {
      return invalidParameter(`Tried accessing nonexisting field (${name}) on node type (WhatsAppBusinessPhoneNumber)`);
    }
    node[name] = field(phoneNumberId);
  }
  node['id'] = phoneNumberId;
  return graphJson(node);
}

/** Build the fake Graph API for the given accounts. */
export function createFake(options: WhatsAppFakeOptions): WhatsAppFake {
  const clock = options.clock ?? systemClock;
  // A fake that throws would take the daemon's sandbox down with it; answer like Graph instead.
  const { app, basePath, fetch } = createFakeApp({ basePath: options.basePath, notFound: unknownPath, onError: unknownError });
  const state: FakeState = {
    accounts: indexAccounts(options.accounts),
    clock,
    media: createMediaStore(clock),
    basePath,
    deliverWebhook: options.deliverWebhook,
  };

  registerMediaRoutes(app, state, VERSION);
  const signals = createSignalLog();
  // Late-bound: the catalog is registered after the send route, which bills by its categories.
  let catalog: WhatsAppFakeCatalog | undefined;
  const templateCategory = (account: WhatsAppAccount, name: string, language: string) =>
    catalog?.catalog(wabaIdOf(account.settings)).find((template) => template.name === name && template.language === language)?.category;
  const messages = registerMessageRoutes(app, state, VERSION, { templateCategory, signals, ...options.messages });
  catalog = registerCatalogRoutes(app, state, VERSION, options.catalog);

  // Graph has one node route for every object type; the id decides what it is.
  app.get(`/${VERSION}/:id`, (c) => {
    const id = c.req.param('id');
    if (!state.accounts.has(id)) return lookupMedia(c, state, id);
    const principal = authenticate(state, c.req.raw);
    if (principal === null) return invalidToken();
    if (!principal.phoneNumberIds.has(id)) return unknownObject('GET', id);
    return phoneNumberNode(c, id);
  });

  return {
    ...messages,
    ...catalog,
    signals: signals.signals,
    fetch,
    putMedia(bytes, mime, filename) {
      const media = state.media.put(bytes.slice(), mime, { filename, owner: null, retentionMs: INBOUND_RETENTION_MS });
      return { id: media.id, sha256: media.sha256 };
    },
    setAccounts: (accounts) => state.accounts.set(accounts),
  };
}

/** The WhatsApp sandbox definition the channel's `index.ts` exposes as `sandbox`. */
export const whatsappSandbox: SandboxDefinition<WhatsAppSettings> = { createFake, simulateInbound };
