/**
 * Attachment types are decided from the bytes (docs/configuration.md), never from a file name,
 * URL or declared MIME type. Magic numbers are necessary, not sufficient: a polyglot (a valid
 * JPEG header with a ZIP appended) is detected as its header says, and the bytes are still served
 * only as a download (`Content-Disposition: attachment`, `nosniff`) by the media route.
 */
import { FileTypeParser, type Detector } from 'file-type';
import type { MediaPartType } from '../model.ts';

/** file-type needs at most this many leading bytes (its `minimumBytes`). */
export const DETECTION_HEAD_BYTES = 4100;

/** Default time budget of one detection (CVE-2022-36313: a crafted MKV looped forever). */
export const DETECTION_BUDGET_MS = 1000;

/** A type decided from magic bytes, with the contract's extension name. */
export interface DetectedType {
  mime: string;
  ext: string;
}

/** Options of `detectMediaType`; `customDetectors` extend file-type (and let tests misbehave). */
export interface DetectOptions {
  budgetMs?: number;
  customDetectors?: Iterable<Detector>;
}

// Formats whose "magic" is a text prefix: anything may follow it (`<?xml ` + `<svg><script>`),
// so recognising the prefix says nothing about what a browser or viewer will do with the rest.
const TEXT_FORMATS = new Set(['xml', 'ics', 'vcf', 'vtt', 'rtf', 'ps', 'eps', 'reg', 'pgp']);

// file-type's names where the contract (and the platforms) use another one.
const CONTRACT_NAMES: Record<string, DetectedType> = {
  opus: { ext: 'ogg', mime: 'audio/ogg; codecs=opus' }, // WhatsApp/Telegram voice notes
  apng: { ext: 'png', mime: 'image/png' }, // an APNG is a valid PNG for every reader
  m4a: { ext: 'm4a', mime: 'audio/mp4' }, // file-type says audio/x-m4a; audio/mp4 is the registered type
};

type Tokenizer = Parameters<FileTypeParser['fromTokenizer']>[0];

class DetectionTimeout extends Error {}

/**
 * A parser whose tokenizer refuses every read after a deadline. A timer cannot interrupt a
 * detector that loops on already-resolved promises (the event loop never reaches timers), but
 * such a loop reads on every turn, so a read-time check stops it.
 */
class BudgetedParser extends FileTypeParser {
  constructor(
    private readonly deadline: number,
    customDetectors: Iterable<Detector> | undefined,
  ) {
    super(customDetectors ? { customDetectors } : undefined);
  }

  override fromTokenizer(tokenizer: Tokenizer) {
    const deadline = this.deadline;
    const guarded = new Proxy(tokenizer, {
      get(target, property) {
        // Read from the target itself: the tokenizer's getters and private fields expect it as `this`.
        const value: unknown = Reflect.get(target, property);
        if (typeof value !== 'function' || property === 'close' || property === 'abort') return value;
        return (...args: unknown[]) => {
          if (performance.now() > deadline) throw new DetectionTimeout('file type detection over budget');
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return super.fromTokenizer(guarded);
  }
}

/**
 * The type of a file from its first bytes, or null when it is unknown, a text format (SVG, HTML,
 * XML, ...: never trusted), over the time budget, or the parser failed on hostile input.
 */
export async function detectMediaType(head: Uint8Array, options: DetectOptions = {}): Promise<DetectedType | null> {
  const budgetMs = options.budgetMs ?? DETECTION_BUDGET_MS;
  const parser = new BudgetedParser(performance.now() + budgetMs, options.customDetectors);
  let timer: NodeJS.Timeout | undefined;
  // Second line of defence for a detector that does yield to the event loop but never finishes.
  const overBudget = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), budgetMs);
  });
  try {
    const result = await Promise.race([parser.fromBuffer(head.subarray(0, DETECTION_HEAD_BYTES)), overBudget]);
    if (result === undefined || TEXT_FORMATS.has(result.ext)) return null;
    return CONTRACT_NAMES[result.ext] ?? { mime: result.mime, ext: result.ext };
  } catch {
    // Unknown is the safe answer: the attachment is rejected, never trusted on a parser error.
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** Whether a detected extension is in a channel's allow-list; `jpg` and `jpeg` are the same type. */
export function isAllowedExt(ext: string, allow: readonly string[]): boolean {
  const wanted = canonicalExt(ext);
  return allow.some((entry) => canonicalExt(entry) === wanted);
}

function canonicalExt(ext: string): string {
  const lower = ext.trim().toLowerCase().replace(/^\./, '');
  return lower === 'jpeg' ? 'jpg' : lower;
}

/**
 * The part type to use when nothing but the bytes is known (adapters that know better, e.g. a
 * Telegram `voice`, set the type themselves): image/* → image, video/* → video, Ogg Opus → voice
 * (the format every platform uses for voice notes), other audio/* → audio, anything else → file.
 */
export function partTypeForMime(mime: string): Extract<MediaPartType, 'image' | 'video' | 'audio' | 'voice' | 'file'> {
  const [essence = '', ...parameters] = mime.toLowerCase().split(';').map((piece) => piece.trim());
  if (essence.startsWith('image/')) return 'image';
  if (essence.startsWith('video/')) return 'video';
  if (essence === 'audio/ogg' && parameters.some((p) => p.replace(/"/g, '') === 'codecs=opus')) return 'voice';
  if (essence.startsWith('audio/')) return 'audio';
  return 'file';
}
