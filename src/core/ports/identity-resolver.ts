/**
 * The port through which ingest finds the person behind a platform identity. The core records
 * messages; who a person is (which contact an identity belongs to, when two contacts are one,
 * what erasing a person removes) is the contacts module's business. The composition root hands
 * the daemon a factory for it; the core never imports the module itself.
 */
import type { InboundIdentity } from '../adapter.ts';
import type { Db, Tx } from '../storage/db.ts';
import type { Subjects } from '../schemas/subjects.ts';
import type { DaemonConfig } from '../config/types.ts';

/** One account of one channel. */
export interface IdentityScope {
  channel: string;
  account: string;
}

/** The identity row an inbound event belongs to, and its contact as it is now. */
export interface ResolvedContact {
  identityId: string;
  contactId: string;
  externalId: string;
  displayName: string | null;
  phone: string | null;
  /** True when this call created the contact and the caller must announce `contact.created`. */
  contactCreated: boolean;
  /** True when this call created the identity (the platform may be asked what else it knows). */
  identityCreated: boolean;
}

/** A known identity as `resolveKnown` found (and locked) it. */
export interface KnownIdentity {
  identityId: string;
  contactId: string;
  externalId: string;
  displayName: string | null;
  username: string | null;
  phone: string | null;
}

/** A sender `findNew` found unknown: nothing on the account names it, nothing to merge with. */
export interface NewIdentity {
  externalId: string;
  /** The phone as the identity will store it (E.164 where it reads as one); null without one. */
  phone: string | null;
  /**
   * Opaque names of the facts that could merge it: two new senders of one batch sharing one
   * (the same person on two accounts) must take the per-event path, where the second merges.
   */
  mergeKeys: string[];
}

/** One identity (and its contact) for `createNew` to insert, ids minted by the caller. */
export interface NewIdentityRow {
  identityId: string;
  contactId: string;
  /** The first sighting: its names, phone and evidence are what the rows start with. */
  who: InboundIdentity;
  at: Date;
}

/** What one erase removed; counts only, so it can be logged (never the platform id or content). */
export interface ErasedIdentity {
  /** False when no such identity exists (already erased, or never seen): nothing changed. */
  erased: boolean;
  identityId: string | null;
  contactId: string | null;
  contactRemoved: boolean;
  counts: Record<string, number>;
  /** Storage keys of the deleted media rows; the caller deletes unreferenced bytes after commit. */
  mediaKeys: string[];
}

/** Resolution, evidence and erasure of identities. Methods taking `tx` never commit. */
export interface IdentityResolver {
  /** Finds or creates the identity and its contact inside the ingest transaction, merging on evidence. */
  resolve(tx: Tx, scope: IdentityScope, who: InboundIdentity, at: Date): Promise<ResolvedContact>;
  /**
   * The batched fast path of ingest (optional): locks and returns, in one statement or two, the
   * identities among `who` that are already known and that this sighting changes nothing about
   * but the time and the profile names (no new evidence, no alias, nothing to merge). Those the
   * map leaves out go through `resolve`. The caller refreshes `last_seen` and names itself.
   */
  resolveKnown?(tx: Tx, scope: IdentityScope, who: ReadonlyArray<InboundIdentity>): Promise<Map<string, KnownIdentity>>;
  /**
   * The batched first sighting (optional, with `createNew`): of `who`, the senders that have no
   * identity on the account (nor an alias naming them), whose sightings in `who` agree on phone
   * and evidence, and whose evidence meets no other live contact; their evidence is locked (as
   * the per-event path locks it) until the transaction ends. The rest go through `resolve`.
   */
  findNew?(tx: Tx, scope: IdentityScope, who: ReadonlyArray<InboundIdentity>): Promise<Map<string, NewIdentity>>;
  /**
   * Inserts identities and their contacts for senders `findNew` returned, in one statement,
   * skipping any that a concurrent transaction created meanwhile (its unique key decides).
   * Returns the external ids actually inserted; the caller announces `contact.created` for
   * them and re-reads the others as known identities.
   */
  createNew?(tx: Tx, scope: IdentityScope, rows: ReadonlyArray<NewIdentityRow>): Promise<Set<string>>;
  /** The platform gave the identity a new id (`changed_id`): both now name it. */
  addAlias(tx: Tx, scope: IdentityScope, identityId: string, newExternalId: string): Promise<void>;
  /** Deletes the identity and what only it held, inside the ingest transaction. */
  erase(tx: Tx, scope: IdentityScope, who: InboundIdentity, at: Date): Promise<ErasedIdentity>;
  /** Records what was learned outside a webhook (a look-up, a first send), in a transaction of its own. */
  learn(scope: IdentityScope, who: InboundIdentity, at: Date): Promise<void>;
}

/** What a resolver is built from: the daemon's database, its subjects and its live `merge` settings. */
export interface IdentityResolverDeps {
  db: Db;
  subjects(): Subjects;
  merge(): DaemonConfig['merge'];
}

/** Builds the resolver once the daemon's database and config are open. */
export type IdentityResolverFactory = (deps: IdentityResolverDeps) => IdentityResolver;
