/** The WeChat adapter round-trips through its own fake official-account API. */
import { wechat } from '../../src/channels/wechat/index.ts';
import type { WeChatFake } from '../../src/channels/wechat/sandbox.ts';
import { testAccount } from '../channels/wechat/helpers.ts';
import { runSandboxConformance } from './sandbox-suite.ts';

runSandboxConformance({
  definition: wechat,
  account: testAccount(),
  customer: 'oSandboxCustomer01',
  received: (fake) => (fake as WeChatFake).sentMessages().map((message) => (message.body.text as { content?: string } | undefined)?.content ?? ''),
});
