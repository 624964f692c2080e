/** The types the inbound recording shares: where an event arrived and what recording it did. */
import type { ChannelAdapter } from '../adapter.ts';

/** Everything the ingest needs to know about the account an event arrived on. */
export interface IngestScope {
  adapter: Pick<ChannelAdapter, 'channel' | 'account' | 'capabilities'>;
  /** The window as configured (`24h`), for events. */
  window: string;
}

/** What one call recorded, for metrics and logs. */
export interface IngestResult {
  recorded: number;
  duplicates: number;
  ignored: Record<string, number>;
  /** Items set aside as inbound dead letters (new ones; a redelivered dead letter counts as a duplicate). */
  deadLettered: Record<string, number>;
  /** Media rows created; the media worker picks them up. */
  mediaQueued: number;
  /** Platform ids of identities seen for the first time (for `lookupIdentity`). */
  newIdentities: string[];
}

/** An empty result to add to. */
export function emptyResult(): IngestResult {
  return { recorded: 0, duplicates: 0, ignored: {}, deadLettered: {}, mediaQueued: 0, newIdentities: [] };
}

/** Adds `part` into `total` (after the transaction that produced `part` committed). */
export function addResult(total: IngestResult, part: IngestResult): void {
  total.recorded += part.recorded;
  total.duplicates += part.duplicates;
  total.mediaQueued += part.mediaQueued;
  total.newIdentities.push(...part.newIdentities);
  for (const [reason, n] of Object.entries(part.ignored)) total.ignored[reason] = (total.ignored[reason] ?? 0) + n;
  for (const [reason, n] of Object.entries(part.deadLettered)) total.deadLettered[reason] = (total.deadLettered[reason] ?? 0) + n;
}
