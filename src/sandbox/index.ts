/**
 * The sandbox kit: the parts every fake platform API shares, written once. A channel's
 * `sandbox*.ts` files hold only that platform's wire format and rules and build on these.
 * The kit imports from `src/core` only; neither the core nor another channel imports a fake.
 */
export { FakeRefusal, createFakeApp, fakeUrl, normaliseBasePath, type FakeApp, type FakeAppOptions } from './app.ts';
export { AccountIndex } from './accounts.ts';
export { bearerToken, queryToken, requestToken, sameSecret, tokenOwners } from './auth.ts';
export { bytesAnswer, isRecord, jsonAnswer, readJsonObject, textAnswer, xmlAnswer } from './answers.ts';
export { MediaStore, type MediaStoreOptions, type SignedLink, type StoredMedia } from './media-store.ts';
export { ConversationWindows, memoryWindowStore, type GrantRule, type OpenGrant, type SpendOutcome, type WindowState, type WindowStore } from './windows.ts';
export { RateBuckets } from './rate.ts';
export { FailureQueue } from './failures.ts';
export { CallbackPump, type CallbackPumpOptions, type CallbackRecord, type DeliverCallback } from './callback-pump.ts';
export { OBSERVE_PATH, parseObservedSpec, registerObserveRoute } from './observe.ts';
