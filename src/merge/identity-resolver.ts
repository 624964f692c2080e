/**
 * The contacts module's side of the core's identity port: resolution with automatic merge on
 * the configured evidence, aliases, erasure, and evidence learned outside a webhook.
 */
import type { IdentityResolver, IdentityResolverFactory } from '../core/ports/identity-resolver.ts';
import { addIdentityAlias, resolveIdentity } from './identities.ts';
import { autoMergeIdentity, learnIdentity } from './auto-merge.ts';
import { eraseIdentity } from './erase.ts';
import { resolveKnownIdentities } from './known-identities.ts';
import { createNewIdentities, findNewIdentities } from './new-identities.ts';

/** The resolver the shipped daemon runs (wired in `src/extensions.ts`). */
export const mergeIdentityResolver: IdentityResolverFactory = ({ db, subjects, merge }): IdentityResolver => ({
  async resolve(tx, scope, who, at) {
    return autoMergeIdentity(tx, subjects(), merge(), await resolveIdentity(tx, scope, who, at), at);
  },
  resolveKnown: (tx, scope, who) => resolveKnownIdentities(tx, merge(), scope, who),
  findNew: (tx, scope, who) => findNewIdentities(tx, merge(), scope, who),
  createNew: (tx, scope, rows) => createNewIdentities(tx, scope, rows),
  addAlias: (tx, scope, identityId, newExternalId) => addIdentityAlias(tx, scope, identityId, newExternalId),
  erase: (tx, scope, who, at) => eraseIdentity(tx, subjects(), scope, who, at),
  async learn(scope, who, at) {
    await learnIdentity(db, subjects(), merge(), scope, who, at);
  },
});
