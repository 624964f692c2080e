/**
 * The composition root of channels: the only place that names them. The core receives this
 * map and never imports a channel folder.
 */
import type { ChannelDefinition } from '../core/adapter.ts';
import { line } from './line/index.ts';
import { telegram } from './telegram/index.ts';
import { wechat } from './wechat/index.ts';
import { whatsapp } from './whatsapp/index.ts';

/** Every built-in channel, by id. */
export const channels: ReadonlyMap<string, ChannelDefinition> = new Map<string, ChannelDefinition>([
  [whatsapp.id, whatsapp],
  [telegram.id, telegram],
  [wechat.id, wechat],
  [line.id, line],
]);
