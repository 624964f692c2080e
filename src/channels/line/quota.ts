/**
 * The monthly message quota (reference A6): `GET /v2/bot/message/quota` gives the plan's limit
 * (`none` = unlimited) and `/quota/consumption` what pushes used this month (approximate, per
 * LINE). Replies are free and not counted; a push to a group costs one per member.
 */
import type { AccountQuotaReading } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { LineClient } from './client.ts';
import { MONTHLY_PUSH_QUOTA } from './config.ts';

/** LINE's month runs in Japan time (UTC+9, no DST) [A: the docs name no zone]. */
const JST_OFFSET_MS = 9 * 3_600_000;

/** Reads the account quota named `name`. */
export async function readQuota(client: LineClient, name: string, now: Date, signal: AbortSignal): Promise<AccountQuotaReading> {
  if (name !== MONTHLY_PUSH_QUOTA) throw new OmniError('not_found', `LINE has no account quota named ${name}`, { details: { quota: name } });
  const [quota, consumption] = await Promise.all([
    client.json('/v2/bot/message/quota', { purpose: 'quota', signal }),
    client.json('/v2/bot/message/quota/consumption', { purpose: 'quota', signal }),
  ]);
  const used = Number(consumption.totalUsage);
  if (!Number.isSafeInteger(used) || used < 0) throw new OmniError('channel_unavailable', 'LINE answered the quota consumption without a usage count');
  let limit: number | null;
  if (quota.type === 'none') limit = null;
  else if (quota.type === 'limited' && Number.isSafeInteger(quota.value) && (quota.value as number) >= 0) limit = quota.value as number;
  else throw new OmniError('channel_unavailable', 'LINE answered the quota in an unknown shape');
  return { name, limit, used, resetsAt: nextMonthJst(now) };
}

/** 00:00 on the first of next month, Japan time. */
export function nextMonthJst(now: Date): Date {
  const jst = new Date(now.getTime() + JST_OFFSET_MS);
  return new Date(Date.UTC(jst.getUTCFullYear(), jst.getUTCMonth() + 1, 1) - JST_OFFSET_MS);
}
