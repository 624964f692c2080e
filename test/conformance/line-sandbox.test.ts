/** The LINE adapter round-trips through its own fake Messaging API. */
import { line } from '../../src/channels/line/index.ts';
import { testAccount } from '../channels/line/helpers.ts';
import { runSandboxConformance } from './sandbox-suite.ts';

runSandboxConformance({ definition: line, account: testAccount(), customer: 'U4af4980629a1b2c3d4e5f60718293a4b' });
