/**
 * The duration of an MP4/M4A file from its `moov/mvhd` box. LINE audio messages need a
 * duration in milliseconds and the core hands the adapter bytes, so it is read from them:
 * a walk over box headers, no decoding.
 */

/** Milliseconds, or undefined when the bytes are not an MP4 with a movie header. */
export function mp4DurationMs(bytes: Uint8Array): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const moov = findBox(view, 0, bytes.byteLength, 'moov');
  if (moov === undefined) return undefined;
  const mvhd = findBox(view, moov.start, moov.end, 'mvhd');
  if (mvhd === undefined || mvhd.end - mvhd.start < 20) return undefined;
  const version = view.getUint8(mvhd.start);
  let timescale: number;
  let duration: number;
  if (version === 1) {
    if (mvhd.end - mvhd.start < 32) return undefined;
    timescale = view.getUint32(mvhd.start + 20);
    duration = Number(view.getBigUint64(mvhd.start + 24));
  } else {
    timescale = view.getUint32(mvhd.start + 12);
    duration = view.getUint32(mvhd.start + 16);
  }
  if (timescale === 0 || !Number.isFinite(duration)) return undefined;
  return Math.round((duration * 1000) / timescale);
}

/** The payload range of the first box of `type` between `from` and `to`. */
function findBox(view: DataView, from: number, to: number, type: string): { start: number; end: number } | undefined {
  let offset = from;
  while (offset + 8 <= to) {
    let size = view.getUint32(offset);
    let header = 8;
    if (size === 1) {
      if (offset + 16 > to) return undefined;
      size = Number(view.getBigUint64(offset + 8));
      header = 16;
    } else if (size === 0) {
      size = to - offset;
    }
    if (size < header || offset + size > to) return undefined;
    const name = String.fromCharCode(view.getUint8(offset + 4), view.getUint8(offset + 5), view.getUint8(offset + 6), view.getUint8(offset + 7));
    if (name === type) return { start: offset + header, end: offset + size };
    offset += size;
  }
  return undefined;
}
