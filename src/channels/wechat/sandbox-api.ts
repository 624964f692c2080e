/**
 * The fake's token, customer-service and user routes, answering in WeChat's wire format
 * (HTTP 200 with `{ errcode, errmsg }` for every error). Custom send enforces the 48 h window,
 * its quota and the one-minute grants exactly as `FakeSessions` records them.
 */
import { createHash } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { isRecord, readJsonObject, sameSecret } from '../../sandbox/index.ts';
import { wechatError, wechatJson, type FakeState, type InboundKind } from './sandbox-state.ts';

const MEDIA_MSGTYPES: Readonly<Record<string, ReadonlyArray<string>>> = { image: ['image'], voice: ['voice'], video: ['video'] };
const OTHER_MSGTYPES = new Set(['music', 'news', 'mpnews', 'mpnewsarticle', 'wxcard', 'miniprogrampage', 'link']);
const INBOUND_KINDS = new Set<InboundKind>(['message', 'follow', 'click', 'scan', 'unsubscribe']);

/** The AppID of the request's `access_token`, or WeChat's error answer; injected failures first. */
export function authorize(state: FakeState, c: Context): string | Response {
  const injected = state.failures.take('api');
  if (injected !== undefined) return wechatError(injected.errcode, injected.errmsg);
  const result = state.tokens.check(c.req.query('access_token'), state.clock.now().getTime());
  if ('errcode' in result) return wechatError(result.errcode);
  if (!state.accounts.has(result.appId)) return wechatError(40001);
  return result.appId;
}

/** Registers the token, send and user routes. */
export function registerApiRoutes(app: Hono, state: FakeState): void {
  const now = () => state.clock.now().getTime();
  const credentials = (appId: unknown, secret: unknown): number => {
    const account = typeof appId === 'string' ? state.accounts.get(appId) : undefined;
    if (account === undefined) return 40013;
    return typeof secret === 'string' && sameSecret(secret, account.settings.appSecret) ? 0 : 40125;
  };

  app.post('/cgi-bin/stable_token', async (c) => {
    const body = await readJson(c);
    if (body === undefined) return wechatError(47001);
    if (body.grant_type !== 'client_credential') return wechatError(40002);
    const refused = credentials(body.appid, body.secret);
    if (refused !== 0) return wechatError(refused);
    const injected = state.failures.take('token');
    if (injected !== undefined) return wechatError(injected.errcode, injected.errmsg);
    const issued = state.tokens.stable(body.appid as string, body.force_refresh === true, now());
    if ('errcode' in issued) return wechatError(issued.errcode);
    return wechatJson({ access_token: issued.token, expires_in: issued.expiresIn });
  });

  app.get('/cgi-bin/token', (c) => {
    if (c.req.query('grant_type') !== 'client_credential') return wechatError(40002);
    const appId = c.req.query('appid');
    const refused = credentials(appId, c.req.query('secret'));
    if (refused !== 0) return wechatError(refused);
    const issued = state.tokens.classic(appId!, now());
    return wechatJson({ access_token: issued.token, expires_in: issued.expiresIn });
  });

  app.post('/cgi-bin/message/custom/send', async (c) => {
    const appId = authorize(state, c);
    if (appId instanceof Response) return appId;
    const body = await readJson(c);
    if (body === undefined) return wechatError(47001);
    const openId = body.touser;
    const msgtype = body.msgtype;
    if (typeof openId !== 'string' || openId === '') return wechatError(40003);
    if (typeof msgtype !== 'string') return wechatError(40008);
    const problem = contentProblem(state, appId, msgtype, body[msgtype]);
    if (problem !== 0) return wechatError(problem);
    const refused = state.sessions.consume(appId, openId);
    if (refused !== 0) return wechatError(refused);
    state.sent.push({ appId, openId, msgtype, body, at: new Date(now()) });
    return wechatJson({ errcode: 0, errmsg: 'ok' });
  });

  app.get('/cgi-bin/user/info', (c) => {
    const appId = authorize(state, c);
    if (appId instanceof Response) return appId;
    const openId = c.req.query('openid') ?? '';
    const user = state.sessions.user(appId, openId);
    if (user === undefined) return wechatError(40003);
    // As if every sandbox account were bound to one Open Platform account: one UnionID per user.
    const unionid = `o6_bm${createHash('sha256').update(`unionid:${openId}`).digest('base64url').slice(0, 23)}`;
    if (!user.subscribed) return wechatJson({ subscribe: 0, openid: openId, unionid });
    return wechatJson({
      subscribe: 1,
      openid: openId,
      language: 'zh_CN',
      subscribe_time: Math.floor(user.subscribedAt / 1000),
      unionid,
      remark: '',
      groupid: 0,
      tagid_list: [],
      subscribe_scene: 'ADD_SCENE_OTHERS',
      qr_scene: 0,
      qr_scene_str: '',
    });
  });

  // Lets a simulator in another process tell the fake what a user did (the real WeChat knows).
  app.post('/_omnibus/inbound', async (c) => {
    const body = await readJson(c);
    const kind = body?.kind as InboundKind | undefined;
    if (body === undefined || typeof body.appId !== 'string' || typeof body.openId !== 'string' || kind === undefined || !INBOUND_KINDS.has(kind)) {
      return c.json({ error: { code: 'invalid_request', message: 'give appId, openId and kind (message, follow, click, scan, unsubscribe)' } }, 400);
    }
    const at = typeof body.at === 'string' && !Number.isNaN(Date.parse(body.at)) ? Date.parse(body.at) : now();
    state.sessions.note(body.appId, body.openId, kind, at);
    return c.json({ ok: true });
  });
}

/** 0 when the message content is well-formed, else the errcode WeChat answers. */
function contentProblem(state: FakeState, appId: string, msgtype: string, content: unknown): number {
  if (msgtype === 'text') {
    const text = isRecord(content) ? content.content : undefined;
    return typeof text === 'string' && text !== '' ? 0 : 44004;
  }
  if (msgtype === 'msgmenu') {
    const list = isRecord(content) ? content.list : undefined;
    const valid = Array.isArray(list) && list.length > 0 && list.length <= 10 && list.every((item) => isRecord(item) && typeof item.id === 'string' && typeof item.content === 'string');
    return valid ? 0 : 47001;
  }
  const mediaTypes = MEDIA_MSGTYPES[msgtype];
  if (mediaTypes !== undefined) {
    const mediaId = isRecord(content) ? content.media_id : undefined;
    if (typeof mediaId !== 'string' || mediaId === '') return 41006;
    const media = state.media.getFor(mediaId, appId);
    return media?.kind !== undefined && mediaTypes.includes(media.kind) ? 0 : 40007;
  }
  return OTHER_MSGTYPES.has(msgtype) && isRecord(content) ? 0 : 40008;
}

function readJson(c: Context): Promise<Record<string, unknown> | undefined> {
  return readJsonObject(c.req.raw);
}
