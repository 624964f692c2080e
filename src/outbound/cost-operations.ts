/** `api.cost.summary` / `GET /v1/costs?from=&to=&groupBy=&account=`: the cost ledger, summed. */
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import { mountHttp, type Operation } from '../core/api/operations.ts';
import { OmniError } from '../core/errors.ts';
import { costSummaryRequestSchema, type CostSummaryRequest } from '../core/schemas/api.ts';
import type { OutboundDeps } from './deps.ts';
import { summarizeCosts } from './costs.ts';
import { definedOnly } from './template-operations.ts';

/** The cost summary operation. */
export function costSummaryOperation(deps: OutboundDeps): Operation<CostSummaryRequest> {
  return {
    endpoint: 'costSummary',
    schema: costSummaryRequestSchema,
    async handle(request) {
      if (Date.parse(request.from) >= Date.parse(request.to)) {
        throw new OmniError('invalid_request', 'from must be before to', { details: { field: 'from' } });
      }
      if (request.account !== undefined && !deps.accounts.get(request.account)) {
        throw new OmniError('unknown_account', 'no such account', { details: { account: request.account } });
      }
      const { groups, totals } = await summarizeCosts(deps.db, deps.accounts, request);
      return { from: request.from, to: request.to, groupBy: request.groupBy, groups, totals };
    },
  };
}

/** Mounts `GET /v1/costs`. */
export function mountCostHttp(api: Hono, deps: OutboundDeps, logger: Logger): void {
  mountHttp(api, 'get', '/costs', costSummaryOperation(deps), logger, (c) =>
    definedOnly({ from: c.req.query('from'), to: c.req.query('to'), groupBy: c.req.query('groupBy'), account: c.req.query('account') }),
  );
}
