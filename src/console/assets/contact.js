// The contact page: the merged profile, every identity with the state of its window now, the
// merge log and suggestions (merge / unmerge), the timeline, the reply box, and live updates.
import { ApiError, currentSession, get, post, query } from './api.js';
import { el, relative, replace, when } from './dom.js';
import { createTimeline, showStatus } from './timeline.js';
import { createReplyBox, moveDraft } from './reply.js';
import { refusalInWords, windowInWords, windowOfSession } from './words.js';

const keyOf = (i) => `${i.channel}|${i.account}|${i.externalId}`;

/**
 * contactId → what the page holds beside the reply box that a rebuild must not lose: the
 * half-typed merge id (and whether it had the focus, with its caret) and the outcome of the
 * last merge or unmerge, which rebuilds the page itself.
 */
const pages = new Map();
const pageOf = (id) => {
  if (!pages.has(id)) pages.set(id, { otherId: '', otherIdFocus: null, notice: null, say: () => undefined, mergedAway: () => undefined });
  return pages.get(id);
};

/**
 * The conversations of the contact with their window now: the conversations API where the
 * daemon has it, else the conversations seen in the timeline, each asked for its session.
 */
async function conversationsOf(contact, messages) {
  try {
    const answer = await get(`/conversations${query({ contactId: contact.id, limit: 50 })}`);
    if (Array.isArray(answer.items)) {
      // The list names identities by id; the contact's list entry says which platform id each is.
      const listed = await get(`/contacts${query({ q: contact.id, limit: 1 })}`).catch(() => ({ items: [] }));
      const externalIds = new Map((listed.items?.[0]?.identities ?? []).map((i) => [i.id, i.externalId]));
      return answer.items.map((c) => ({ ...c, externalId: externalIds.get(c.identityId), windowName: c.window?.window }));
    }
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 400)) throw error;
  }
  const byConversation = new Map();
  for (const m of messages) {
    if (!byConversation.has(m.conversationId)) byConversation.set(m.conversationId, { id: m.conversationId, channel: m.channel, account: m.account, externalId: m.contact?.identity?.externalId });
  }
  return Promise.all(
    [...byConversation.values()].map(async (c) => {
      const answer = await get(`/conversations/${encodeURIComponent(c.id)}/session`).catch(() => ({ session: null }));
      return { ...c, window: windowOfSession(answer.session), windowName: answer.session?.window };
    }),
  );
}

/** The window of an identity: its conversation's, else what the profile says. */
function windowOf(identity, conversations) {
  const mine = conversations.filter((c) => c.account === identity.account && (c.externalId === undefined || c.externalId === identity.externalId) && c.kind !== 'group');
  const best = mine.find((c) => c.window?.state === 'open') ?? mine[0];
  if (best?.window) return { ...best.window, windowName: best.windowName };
  if (identity.sessionExpiresAt) return identity.sessionOpen ? { state: 'open', expiresAt: identity.sessionExpiresAt } : { state: 'closed', closedSince: identity.sessionExpiresAt };
  return { state: 'none' };
}

function identityRow(identity, window, canUnmerge, onUnmerge) {
  const words = windowInWords(window);
  return el(
    'tr',
    { attrs: { 'data-identity': keyOf(identity) } },
    el('td', {}, el('span', { class: `badge ch-${identity.channel}`, text: identity.channel })),
    el('td', { text: identity.account }),
    el('td', {}, el('span', { text: identity.displayName || '' }), el('br'), el('code', { class: 'muted', text: identity.externalId })),
    el('td', { text: relative(identity.lastSeen), attrs: { title: when(identity.lastSeen) } }),
    el('td', {}, el('span', { class: `window window-${words.state}`, text: words.text, attrs: { 'data-window': words.state } })),
    el('td', {}, canUnmerge ? el('button', { class: 'secondary write', text: 'Unmerge', attrs: { type: 'button' }, on: { click: onUnmerge } }) : null),
  );
}

/** Renders contact `id` into `view`; returns a clean-up function. */
export async function showContact(view, id, { rebuild = false, anchor = null } = {}) {
  // A rebuild keeps the old page in view until the new one is ready.
  if (!rebuild) replace(view, el('p', { class: 'muted', text: 'Loading…' }));
  const { contact } = await get(`/contacts/${encodeURIComponent(id)}`);
  if (contact.id !== id) {
    // Merged into another contact: what was typed here goes along.
    moveDraft(id, contact.id);
    if (pages.has(id) && !pages.has(contact.id)) pages.set(contact.id, pages.get(id));
    pages.delete(id);
    pageOf(contact.id).followed = true;
    location.replace(`#/contacts/${contact.id}`);
    return () => undefined;
  }
  const readOnly = currentSession()?.readOnly === true;
  const state = pageOf(contact.id);
  const notice = el('p', { class: 'outcome', attrs: { role: 'status', id: 'contact-notice' } });
  const showNotice = ({ text, error, code }) => {
    notice.className = error ? 'outcome error' : 'outcome';
    if (code) notice.setAttribute('data-code', code);
    else notice.removeAttribute('data-code');
    notice.textContent = text;
  };
  // The outcome of the last merge or unmerge stays said on every rebuild, until the next one
  // or until the page is opened afresh. It is said by whichever page is shown now.
  if (!rebuild && !state.followed) state.notice = null;
  state.followed = false;
  if (state.notice) showNotice(state.notice);
  state.say = (said) => {
    state.notice = said;
    showNotice(said);
  };
  const identitiesBody = el('tbody');
  const merges = el('ol', { class: 'merges', attrs: { id: 'merges' } });
  const suggestions = el('ul', { class: 'suggestions', attrs: { id: 'suggestions' } });
  const replyBox = el('div', { attrs: { id: 'reply' } });
  const otherId = el('input', { attrs: { name: 'otherId', placeholder: 'ct_… of the same person', 'aria-label': 'Contact id to merge', pattern: 'ct_[A-Za-z0-9]+', required: true } });
  const mergeForm = el('form', { class: 'template-form write', attrs: { id: 'merge-form' } }, otherId, el('button', { class: 'secondary', text: 'Merge', attrs: { type: 'submit' } }));
  otherId.value = state.otherId;
  // Only while this page is the one shown: a replaced page must not overwrite a newer state.
  const saveOtherId = () => {
    if (!otherId.isConnected) return;
    state.otherId = otherId.value;
    state.otherIdFocus = document.activeElement === otherId ? { start: otherId.selectionStart, end: otherId.selectionEnd } : null;
  };
  for (const type of ['input', 'keyup', 'mouseup', 'select', 'focus']) otherId.addEventListener(type, saveOtherId);
  mergeForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void act(`/contacts/${encodeURIComponent(contact.id)}/merge`, { otherId: otherId.value.trim() }, 'Merged.');
  });
  const timelineList = el('ol', { class: 'timeline', attrs: { id: 'timeline' } });
  const liveBadge = el('span', { class: 'muted live', text: 'connecting…', attrs: { id: 'live' } });

  replace(
    view,
    el('p', {}, el('a', { text: '← Contacts', attrs: { href: '#/' } })),
    el(
      'section',
      { class: 'profile' },
      el('h1', { text: contact.displayName || contact.identities[0]?.externalId || contact.id, attrs: { id: 'contact-name' } }),
      el('p', { class: 'muted' }, [...contact.phones, ...contact.emails].join(' · ') || 'no phone or email', ' · ', el('code', { text: contact.id }), ' · ', liveBadge),
      notice,
      el('table', { class: 'identities', attrs: { id: 'identities' } }, el('thead', {}, el('tr', {}, ['channel', 'account', 'identity', 'last seen', 'window now', ''].map((h) => el('th', { text: h })))), identitiesBody),
    ),
    el('div', { class: 'columns' },
      el('section', { class: 'conversation' }, el('h2', { text: 'Reply' }), replyBox, el('h2', { text: 'Timeline' }), timelineList),
      el('aside', {}, el('h2', { text: 'Possible duplicates' }), suggestions, readOnly ? null : mergeForm, el('h2', { text: 'Merge log' }), merges),
    ),
  );

  // The typed id is used up once that contact is merged (told to the page shown now).
  state.mergedAway = (mergedId) => {
    if (mergedId !== state.otherId.trim()) return;
    otherId.value = '';
    state.otherId = '';
  };
  const otherIdFocus = rebuild ? state.otherIdFocus : null;
  if (!readOnly && otherIdFocus) {
    otherId.focus();
    otherId.setSelectionRange(otherIdFocus.start ?? 0, otherIdFocus.end ?? otherIdFocus.start ?? 0);
    saveOtherId();
  }

  /** A merge or unmerge; its outcome is shown on the rebuilt page. Resolves to whether it was done. */
  const act = async (path, body, done) => {
    state.say({ text: 'Working…' });
    try {
      await post(path, body);
    } catch (error) {
      state.say({ text: refusalInWords(error), error: true, code: error.code ?? 'internal' });
      return false;
    }
    if (body.otherId) state.mergedAway(body.otherId);
    state.say({ text: done });
    await reload();
    return true;
  };

  const reply = createReplyBox(replyBox, {
    contactId: contact.id,
    rebuild,
    onSent: async (messageId) => {
      const answer = await get(`/messages/${encodeURIComponent(messageId)}`).catch(() => null);
      if (answer?.message) addMessage(answer.message, answer.delivery?.status);
    },
  });
  const statuses = new Map();
  // A rebuild brings the agent back to where they had scrolled, older pages loaded again.
  const timeline = createTimeline(timelineList, contact.id, (messages) => void renderWindows(messages), { anchor: rebuild ? anchor : null });
  let firstMessages = [];

  let windowsAsked = 0;
  async function renderWindows(messages = firstMessages) {
    firstMessages = messages;
    const mine = ++windowsAsked;
    const conversations = await conversationsOf(contact, messages).catch(() => []);
    // An answer overtaken by a newer one is dropped: the newest windows win.
    if (mine !== windowsAsked) return;
    const multiple = contact.identities.length > 1;
    const targets = [];
    identitiesBody.replaceChildren(
      ...contact.identities.map((identity) => {
        const window = windowOf(identity, conversations);
        targets.push({ channel: identity.channel, account: identity.account, externalId: identity.externalId, label: `${identity.channel} · ${identity.account} · ${identity.displayName || identity.externalId}`, window, windowName: window.windowName, lastSeen: identity.lastSeen });
        return identityRow(identity, window, multiple && !readOnly, () =>
          act(`/contacts/${encodeURIComponent(contact.id)}/unmerge`, { identity: { channel: identity.channel, account: identity.account, externalId: identity.externalId } }, 'Identity split off.'),
        );
      }),
    );
    // Open windows first, then the most recently seen.
    targets.sort((a, b) => (b.window.state === 'open') - (a.window.state === 'open') || String(b.lastSeen).localeCompare(String(a.lastSeen)));
    // Updated in place: what the agent is typing stays as it is.
    reply.update(targets);
  }

  async function renderSide() {
    const [log, found] = await Promise.all([
      get(`/contacts/${encodeURIComponent(contact.id)}/merges`).catch(() => ({ merges: [] })),
      get(`/contacts/${encodeURIComponent(contact.id)}/suggestions`).catch(() => ({ suggestions: [] })),
    ]);
    replace(
      merges,
      log.merges.length === 0
        ? el('li', { class: 'muted', text: 'No merges.' })
        : log.merges.map((m) =>
            el('li', {}, el('strong', { text: m.action }), ` ${m.otherId} · ${m.evidence?.type ?? ''}${m.evidence?.value ? ` ${m.evidence.value}` : ''} · ${m.actor} via ${m.via} · `, el('time', { text: when(m.at) })),
          ),
    );
    replace(
      suggestions,
      found.suggestions.length === 0
        ? el('li', { class: 'muted', text: 'None.' })
        : found.suggestions.map((s) => {
            const other = s.contact ?? {};
            return el(
              'li',
              {},
              el('a', { text: other.displayName || s.contactId || other.id, attrs: { href: `#/contacts/${encodeURIComponent(other.id ?? s.contactId)}` } }),
              el('span', { class: 'muted', text: ` · ${(s.reasons ?? []).map((r) => r.type).join(', ')} · score ${s.score}` }),
              readOnly ? null : el('button', { class: 'secondary write', text: 'Merge', attrs: { type: 'button' }, on: { click: () => act(`/contacts/${encodeURIComponent(contact.id)}/merge`, { otherId: other.id ?? s.contactId }, 'Merged.') } }),
            );
          }),
    );
  }

  function addMessage(message, status) {
    timeline.add(message, status);
    const known = statuses.get(message.id);
    if (known) showStatus(timelineList, message.id, known.status, known.error);
  }

  /** Rebuilds the page (a merge changed the profile); drafts, the merge id and the focus are kept. */
  async function reload() {
    if (!replyBox.isConnected) return;
    reply.save();
    saveOtherId();
    await showContact(view, contact.id, { rebuild: true, anchor: timeline.anchor() }).then((cleanup) => {
      stop();
      stop = cleanup;
    });
  }

  void renderSide();

  // Live updates for this contact.
  const source = new EventSource(`/console/api/events${query({ contactId: contact.id })}`);
  source.addEventListener('ready', () => (liveBadge.textContent = 'live'));
  source.addEventListener('error', () => (liveBadge.textContent = 'reconnecting…'));
  source.addEventListener('message', (event) => addMessage(JSON.parse(event.data)));
  source.addEventListener('status', (event) => {
    const status = JSON.parse(event.data);
    if (!status.messageId) return;
    statuses.set(status.messageId, status);
    showStatus(timelineList, status.messageId, status.status, status.error);
  });
  let windowsTimer = null;
  source.addEventListener('session', () => {
    clearTimeout(windowsTimer);
    windowsTimer = setTimeout(() => void renderWindows(), 300);
  });
  source.addEventListener('contact', () => void reload());
  source.addEventListener('resync', () => void reload());

  let stop = () => {
    source.close();
    timeline.stop();
    clearTimeout(windowsTimer);
  };
  return () => stop();
}
