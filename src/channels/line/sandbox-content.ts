/**
 * The fake's content host: `GET /v2/bot/message/{id}/content` with LINE's 202 phase for videos
 * and audio (`/content/transcoding` reports `processing` until the media is ready), 404 for
 * unknown ids and 410 for media marked gone; plus sticker images as LINE's sticker CDN serves them.
 */
import type { Hono } from 'hono';
import { bytesAnswer } from '../../sandbox/index.ts';
import { authorize } from './sandbox-api.ts';
import { lineError, lineJson, type FakeState } from './sandbox-state.ts';

/** A 1×1 transparent PNG: what every sticker looks like in the sandbox. */
const STICKER_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

/** Registers the content and sticker routes. */
export function registerContentRoutes(app: Hono, state: FakeState): void {
  app.get('/v2/bot/message/:id/content', (c) => {
    const account = authorize(state, c, 'content');
    if (account instanceof Response) return account;
    const media = state.media.get(c.req.param('id'));
    const phase = state.content.get(c.req.param('id'));
    if (media === undefined || phase === undefined) return lineError(404, 'Not found');
    if (phase.gone) return lineError(410, 'The content is gone');
    if (phase.pendingPolls > 0) return new Response(null, { status: 202 });
    return bytesAnswer(media.bytes, media.mime);
  });

  app.get('/v2/bot/message/:id/content/transcoding', (c) => {
    const account = authorize(state, c, 'content');
    if (account instanceof Response) return account;
    const phase = state.media.get(c.req.param('id')) === undefined ? undefined : state.content.get(c.req.param('id'));
    if (phase === undefined) return lineError(404, 'Not found');
    if (phase.pendingPolls > 0) phase.pendingPolls--;
    return lineJson({ status: phase.pendingPolls > 0 ? 'processing' : 'succeeded' });
  });

  app.get('/stickershop/v1/sticker/:id/android/sticker.png', () => new Response(STICKER_PNG, { status: 200, headers: { 'content-type': 'image/png' } }));
}
