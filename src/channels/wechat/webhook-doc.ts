/** How the WeChat Official Account platform calls the webhook, for docs/openapi.json. */
import type { WebhookDoc } from '../../core/adapter.ts';

const signed = [
  { name: 'signature', description: 'sha1 of the sorted token, timestamp and nonce (plain mode and the handshake).' },
  { name: 'timestamp', description: 'Unix seconds.' },
  { name: 'nonce', description: 'Random, with timestamp against replays.' },
] as const;

export const wechatWebhookDoc: WebhookDoc = {
  summary: 'WeChat Official Account pushes (XML), plain or AES-encrypted (safe mode).',
  contentType: 'text/xml',
  signature: [
    ...signed.map((p) => ({ ...p, in: 'query' as const, required: p.name !== 'signature' })),
    { name: 'encrypt_type', in: 'query', description: '`aes` in safe mode.', required: false },
    { name: 'msg_signature', in: 'query', description: 'Safe mode: sha1 of the sorted token, timestamp, nonce and Encrypt value.', required: false },
  ],
  handshake: {
    summary: 'The server-URL check: answers echostr when the signature matches `token`.',
    query: [...signed, { name: 'echostr', description: 'Echoed back when the signature matches.' }],
  },
};
