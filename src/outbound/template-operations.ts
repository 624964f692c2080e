/**
 * `api.template.list` / `GET /v1/templates?account=`: the synced catalog of an account, with
 * when it last synced (null: never, or the account has no catalog).
 */
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import { mountHttp, type Operation } from '../core/api/operations.ts';
import { OmniError } from '../core/errors.ts';
import { templateListRequestSchema, type TemplateListRequest } from '../core/schemas/api.ts';
import type { OutboundDeps } from './deps.ts';
import { listTemplates, syncState, templateView } from './template-catalog.ts';

/** The template list operation. */
export function templateListOperation(deps: OutboundDeps): Operation<TemplateListRequest> {
  return {
    endpoint: 'templateList',
    schema: templateListRequestSchema,
    async handle({ account, name, status }) {
      const entry = deps.accounts.get(account);
      if (!entry) throw new OmniError('unknown_account', 'no such account', { details: { account } });
      const state = await syncState(deps.db, account);
      const rows = await listTemplates(deps.db, account, { ...(name !== undefined ? { name } : {}), ...(status !== undefined ? { status } : {}) });
      return { account, syncedAt: state?.syncedAt?.toISOString() ?? null, templates: rows.map(templateView) };
    },
  };
}

/** Mounts `GET /v1/templates`. */
export function mountTemplateHttp(api: Hono, deps: OutboundDeps, logger: Logger): void {
  mountHttp(api, 'get', '/templates', templateListOperation(deps), logger, (c) => definedOnly({ account: c.req.query('account'), name: c.req.query('name'), status: c.req.query('status') }));
}

/** Query parameters without the absent ones (a strict schema refuses `undefined` keys only by name). */
export function definedOnly(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
