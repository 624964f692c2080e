/** The WhatsApp adapter round-trips through its own fake Graph API. */
import { whatsapp } from '../../src/channels/whatsapp/index.ts';
import type { WhatsAppFake } from '../../src/channels/whatsapp/sandbox.ts';
import { testAccount } from '../channels/whatsapp/helpers.ts';
import { runSandboxConformance } from './sandbox-suite.ts';

runSandboxConformance({
  definition: whatsapp,
  account: testAccount(),
  customer: '16315551234',
  received: (fake) => (fake as WhatsAppFake).sent().map((message) => (message.body.text as { body?: string } | undefined)?.body ?? ''),
  flushCallbacks: (fake) => (fake as WhatsAppFake).flushStatuses(),
});
