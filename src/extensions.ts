/**
 * The composition root: the modules that plug into the daemon beside the inbound core
 * (outbound sending, the contacts API, the agent console) and the contacts module behind the core's identity port.
 * Listed here, outside the core, so the core never imports them.
 */
import type { DaemonExtension, DaemonOptions } from './core/daemon.ts';
import { consoleExtension } from './console/extension.ts';
import { contactsExtension } from './merge/extension.ts';
import { mergeIdentityResolver } from './merge/identity-resolver.ts';
import { createOutbound } from './outbound/index.ts';

/** The extensions the shipped daemon runs. */
export function extensions(): DaemonExtension[] {
  return [createOutbound(), contactsExtension(), consoleExtension()];
}

/** The identity resolver the shipped daemon runs: contacts with automatic merge. */
export const identities: DaemonOptions['identities'] = mergeIdentityResolver;
