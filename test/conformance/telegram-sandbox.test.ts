/** The Telegram adapter round-trips through its own fake Bot API. */
import { telegram } from '../../src/channels/telegram/index.ts';
import { testAccount } from '../channels/telegram/helpers.ts';
import { runSandboxConformance } from './sandbox-suite.ts';

runSandboxConformance({ definition: telegram, account: testAccount(), customer: '7123456789' });
