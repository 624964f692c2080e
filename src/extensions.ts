/**
 * Modules that plug into the daemon beside the inbound core (outbound sending, the contacts
 * API). Listed here, in the composition root, so the core never imports them.
 */
import type { DaemonExtension } from './core/daemon.ts';
import { contactsExtension } from './merge/extension.ts';
import { createOutbound } from './core/outbound/index.ts';

/** The extensions the shipped daemon runs. */
export function extensions(): DaemonExtension[] {
  return [createOutbound(), contactsExtension()];
}
