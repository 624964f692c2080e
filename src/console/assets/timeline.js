// The cross-channel timeline: newest first, older pages loaded as the end scrolls into view,
// media through short-lived signed links, and the delivery status of outbound messages.
import { get, mediaLink, query } from './api.js';
import { el, when } from './dom.js';
import { STATUS_WORDS } from './words.js';

const PAGE = 30;
const MEDIA = new Set(['image', 'video', 'audio', 'voice', 'file', 'sticker']);

/** One part as nodes; every customer string goes in as text. */
function partNode(part) {
  if (part.type === 'text') return el('p', { class: 'text', text: part.text ?? '' });
  if (MEDIA.has(part.type)) return mediaNode(part);
  if (part.type === 'location') return el('p', { class: 'text', text: `📍 ${[part.name, part.address].filter(Boolean).join(', ') || ''} (${part.latitude}, ${part.longitude})` });
  if (part.type === 'contact_card') return el('p', { class: 'text', text: `👤 ${part.name ?? ''} ${(part.phones ?? []).join(', ')}` });
  if (part.type === 'reply') return el('p', { class: 'text', text: `↩ ${part.title ?? part.id ?? ''}` });
  if (part.type === 'reaction') return el('p', { class: 'text', text: part.emoji ? `reacted ${part.emoji}` : 'removed a reaction' });
  if (part.type === 'buttons' || part.type === 'list') return el('p', { class: 'text', text: part.text ?? '' });
  if (part.type === 'template') return el('p', { class: 'text muted', text: `template ${part.name ?? ''}` });
  return el('p', { class: 'muted', text: `(${part.type}${part.reason ? `: ${part.reason}` : ''})` });
}

function mediaNode(part) {
  const media = part.media ?? {};
  const box = el('figure', { class: `media media-${part.type}` });
  const caption = part.caption ? el('figcaption', { text: part.caption }) : null;
  if (media.status !== 'ready' || !media.id) {
    box.append(el('p', { class: 'muted', text: `${part.type} ${media.status === 'rejected' ? 'withheld' : 'unavailable'}${media.reason ? ` (${media.reason})` : ''}` }));
    if (caption) box.append(caption);
    return box;
  }
  const name = part.filename || `${media.id}.${media.ext ?? 'bin'}`;
  mediaLink(media.id).then(
    (src) => {
      let node;
      if (part.type === 'image' || part.type === 'sticker') node = el('img', { attrs: { src, alt: part.caption || name, loading: 'lazy' } });
      else if (part.type === 'video') node = el('video', { attrs: { src, controls: true, preload: 'metadata' } });
      else if (part.type === 'audio' || part.type === 'voice') node = el('audio', { attrs: { src, controls: true, preload: 'metadata' } });
      else node = el('a', { class: 'file', text: `📎 ${name}`, attrs: { href: src, download: name, rel: 'noopener' } });
      box.prepend(node);
    },
    () => box.prepend(el('p', { class: 'muted', text: `${part.type} could not be linked` })),
  );
  if (caption) box.append(caption);
  return box;
}

/** One message as a list item. */
export function messageNode(message) {
  const out = message.direction === 'out';
  const status = out ? el('span', { class: 'status', text: 'queued', attrs: { 'data-status-for': message.id, 'data-status': 'queued' } }) : null;
  return el(
    'li',
    { class: `message ${out ? 'out' : 'in'}`, attrs: { 'data-message-id': message.id, 'data-channel': message.channel } },
    el(
      'div',
      { class: 'meta' },
      el('span', { class: `badge ch-${message.channel}`, text: message.channel }),
      el('span', { class: 'muted', text: `${message.account} · ${out ? 'agent' : message.contact?.displayName || message.contact?.identity?.externalId || ''}` }),
      el('time', { class: 'muted', text: when(message.timestamp), attrs: { datetime: message.timestamp } }),
      status,
    ),
    (message.parts ?? []).map(partNode),
  );
}

/** Shows a status on the message's badge; statuses only move forward. */
const ORDER = ['queued', 'sent', 'delivered', 'read'];
export function showStatus(root, messageId, status, error) {
  const badge = root.querySelector(`[data-status-for="${CSS.escape(messageId)}"]`);
  if (!badge) return;
  const current = badge.getAttribute('data-status');
  if (current === 'failed' || (status !== 'failed' && ORDER.indexOf(status) < ORDER.indexOf(current))) return;
  badge.setAttribute('data-status', status);
  badge.textContent = STATUS_WORDS[status] ?? status;
  if (error?.code) badge.title = error.code;
}

/** Fetches the current delivery status of outbound messages, a few at a time. */
async function fillStatuses(root, ids) {
  const queue = [...ids];
  const worker = async () => {
    for (let id = queue.shift(); id; id = queue.shift()) {
      const answer = await get(`/messages/${encodeURIComponent(id)}`).catch(() => null);
      if (answer?.delivery?.status) showStatus(root, id, answer.delivery.status, answer.delivery.error);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

/**
 * The timeline of a contact, mounted in `list`; returns { add, anchor, seen, conversations, stop }.
 * `anchor` (from `anchor()` on the page being rebuilt): the message the agent was looking at and
 * where on the screen; pages are loaded until it is there again, and it is scrolled back into
 * the same place.
 */
export function createTimeline(list, contactId, onFirstPage, { anchor = null } = {}) {
  let restore = anchor && anchor.y > 0 ? anchor : null;
  const sentinel = el('li', { class: 'sentinel muted', text: 'Loading…' });
  list.append(sentinel);
  let cursor;
  let loading = false;
  let done = false;
  const seen = new Set();
  const load = async () => {
    if (loading || done) return;
    loading = true;
    try {
      const page = await get(`/contacts/${encodeURIComponent(contactId)}/timeline${query({ limit: PAGE, before: cursor })}`);
      const fresh = page.messages.filter((m) => !seen.has(m.id));
      for (const message of fresh) seen.add(message.id);
      sentinel.before(...fresh.map(messageNode));
      if (cursor === undefined) onFirstPage?.(page.messages);
      cursor = page.nextCursor;
      done = !cursor;
      sentinel.textContent = done ? (seen.size === 0 ? 'No messages yet.' : 'The beginning.') : 'Loading…';
      void fillStatuses(list, fresh.filter((m) => m.direction === 'out').map((m) => m.id));
    } catch (error) {
      sentinel.textContent = `Could not load messages: ${error.message}`;
    } finally {
      loading = false;
    }
    if (restore !== null && list.isConnected) {
      const node = restore.id ? list.querySelector(`[data-message-id="${CSS.escape(restore.id)}"]`) : null;
      const y = node ? window.scrollY + node.getBoundingClientRect().top - restore.top : restore.y;
      // Tall enough to scroll there (else the browser stops short at the end of the page).
      if (done || (node && document.documentElement.scrollHeight >= y + window.innerHeight)) {
        window.scrollTo(0, y);
        restore = null;
      } else {
        void load();
        return;
      }
    }
    // Still in view (a short page): load the next at once.
    if (!done && sentinel.getBoundingClientRect().top < window.innerHeight + 200) void load();
  };
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) void load();
  }, { rootMargin: '200px' });
  observer.observe(sentinel);
  void load();
  return {
    /** The first message on screen and its distance from the top of the window, with the scroll position. */
    anchor() {
      const first = [...list.querySelectorAll('li.message')].find((node) => node.getBoundingClientRect().bottom > 0);
      return { id: first?.getAttribute('data-message-id') ?? null, top: first?.getBoundingClientRect().top ?? 0, y: window.scrollY };
    },
    /** A live or just-sent message: on top, once. */
    add(message, status) {
      if (seen.has(message.id)) return;
      seen.add(message.id);
      list.prepend(messageNode(message));
      if (status) showStatus(list, message.id, status);
    },
    stop: () => observer.disconnect(),
  };
}
