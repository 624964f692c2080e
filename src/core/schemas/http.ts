/**
 * Requests and answers of the HTTP routes that have no NATS subject: health, readiness and
 * media links. Like api.ts, they generate docs/openapi.json; answers are open objects.
 */
import { z } from 'zod';
import { daemonIdSchema, timestampSchema } from './events.ts';

/** `GET /healthz`: the process runs. */
export const healthAnswerSchema = z.object({ ok: z.literal(true) });

/** `GET /readyz` and `GET /readyz/webhooks`: 200 when ready, 503 with the same body when not. */
export const readinessAnswerSchema = z.object({
  ready: z.boolean(),
  checks: z
    .record(z.string(), z.boolean())
    .describe('Each dependency checked: `database`, `nats`, `outbox` (`/readyz/webhooks`: `database` only).'),
  details: z
    .object({ outbox: z.object({ oldestUnpublishedAgeSeconds: z.number() }).nullable() })
    .optional()
    .describe('`/readyz` only: how far behind the relay to NATS is.'),
});

/** `GET /v1/media/{id}` query: a signed link (both or neither) instead of the API token. */
export const mediaGetQuerySchema = z.object({
  expires: z.string().regex(/^\d+$/).optional().describe('Unix seconds, from a link minted by `GET /v1/media/{id}/link`.'),
  signature: z.string().optional().describe('The link signature; with `expires`, no API token is needed.'),
});

/** `GET /v1/media/{id}/link` query. */
export const mediaLinkQuerySchema = z.object({
  ttl: z.string().regex(/^\d+$/).optional().describe('Seconds the link lives: 60 up to the maximum, default 3600.'),
});

/** `GET /v1/media/{id}/link`: a URL that serves the media without a token until it expires. */
export const mediaLinkAnswerSchema = z.object({
  ok: z.literal(true),
  url: z.url().describe('Absolute, on `http.publicUrl` when set.'),
  expiresAt: timestampSchema,
});

/** The media id of the media routes. */
export const mediaIdParamsSchema = z.strictObject({ id: daemonIdSchema('med', 'Stored media id') });

/** `POST /sandbox/{channel}/_omnibus/media` query (sandbox mode only). */
export const sandboxMediaQuerySchema = z.object({ filename: z.string().optional().describe('The file name the fake reports.') });
