/**
 * The outbound API operations, defined once and served over NATS (`<p>.v1.api.send`,
 * `api.message.get`, `api.session.get`, queue group `omnibus`) and HTTP (`POST /v1/messages`,
 * `GET /v1/messages/{id}`, and `GET /v1/conversations/{id}/session` as an addition).
 */
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import { mountHttp, type Operation } from '../core/api/operations.ts';
import {
  conversationListRequestSchema,
  conversationMessagesRequestSchema,
  messageGetRequestSchema,
  sendCommandSchema,
  sessionGetRequestSchema,
  type ConversationListRequest,
  type ConversationMessagesRequest,
  type SendCommand,
} from '../core/schemas/api.ts';
import type { OutboundDeps } from './deps.ts';
import type { SendAcceptor } from './accept.ts';
import { refusalError, type SendSource } from './answers.ts';
import { loadMessage } from './message-view.ts';
import { sessionOf } from './sessions.ts';
import { listConversations } from './conversation-list.ts';
import { conversationMessages } from './conversation-messages.ts';

/** `api.send` / `POST /v1/messages`: the same acceptance path, labelled with where it came from. */
export function sendOperation(acceptor: SendAcceptor, source: Exclude<SendSource, 'command'>): Operation<SendCommand> {
  return {
    endpoint: 'send',
    schema: sendCommandSchema,
    async handle(command) {
      const outcome = await acceptor.accept(command, source);
      if (!outcome.ok) throw refusalError(outcome.error);
      return { messageId: outcome.messageId, status: outcome.status };
    },
  };
}

/** `api.message.get` / `GET /v1/messages/{id}`: the message with its current delivery status. */
export function messageGetOperation(deps: OutboundDeps): Operation<{ id: string }> {
  return {
    endpoint: 'messageGet',
    schema: messageGetRequestSchema,
    async handle({ id }) {
      const view = await loadMessage(deps.db, deps.accounts, id);
      return { message: view.message, delivery: view.delivery };
    },
  };
}

/** `api.session.get`: a conversation's window with its state now (null if it never had one). */
export function sessionGetOperation(deps: OutboundDeps): Operation<{ conversationId: string }> {
  return {
    endpoint: 'sessionGet',
    schema: sessionGetRequestSchema,
    async handle({ conversationId }) {
      return { session: await sessionOf(deps, conversationId) };
    },
  };
}

/** `api.conversation.list` / `GET /v1/conversations`: open windows first, then latest activity. */
export function conversationListOperation(deps: OutboundDeps): Operation<ConversationListRequest> {
  return {
    endpoint: 'conversationList',
    schema: conversationListRequestSchema,
    handle: async (request) => ({ ...(await listConversations(deps, request)) }),
  };
}

/** `api.conversation.messages` / `GET /v1/conversations/{id}/messages`: newest first, as message.get shows them. */
export function conversationMessagesOperation(deps: OutboundDeps): Operation<ConversationMessagesRequest> {
  return {
    endpoint: 'conversationMessages',
    schema: conversationMessagesRequestSchema,
    handle: async (request) => ({ ...(await conversationMessages(deps, request)) }),
  };
}

/** The operations served over NATS. */
export function natsOperations(deps: OutboundDeps, acceptor: SendAcceptor): Operation[] {
  return [
    sendOperation(acceptor, 'api'),
    messageGetOperation(deps),
    sessionGetOperation(deps),
    conversationListOperation(deps),
    conversationMessagesOperation(deps),
  ];
}

/** Mounts the HTTP routes on the `/v1` app (bearer auth is already applied there). */
export function mountOutboundHttp(api: Hono, deps: OutboundDeps, acceptor: SendAcceptor, logger: Logger): void {
  mountHttp(api, 'post', '/messages', sendOperation(acceptor, 'http'), logger);
  mountHttp(api, 'get', '/messages/:id', messageGetOperation(deps), logger, (c) => ({ id: c.req.param('id') }));
  mountHttp(api, 'get', '/conversations/:id/session', sessionGetOperation(deps), logger, (c) => ({ conversationId: c.req.param('id') }));
  mountHttp(api, 'get', '/conversations', conversationListOperation(deps), logger, (c) => withNumericLimit(c.req.query()));
  mountHttp(api, 'get', '/conversations/:id/messages', conversationMessagesOperation(deps), logger, (c) => ({
    ...withNumericLimit(c.req.query()),
    conversationId: c.req.param('id'),
  }));
}

/** A query with `limit` as a number; a non-numeric one fails validation like any bad field. */
function withNumericLimit(query: Record<string, string>): Record<string, unknown> {
  const { limit, ...rest } = query;
  return { ...rest, ...(limit !== undefined ? { limit: limit === '' ? NaN : Number(limit) } : {}) };
}
