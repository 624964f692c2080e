// The contact list: recently active first, searchable by name, phone, email or external id.
import { ApiError, currentSession, get, query } from './api.js';
import { el, relative, replace, when } from './dom.js';

const PAGE = 30;

/** Finds contacts: the list API (`?q=`), or the exact look-ups where only those exist. */
async function search(q, channel, account, cursor) {
  try {
    const answer = await get(`/contacts${query({ q, channel, account, limit: PAGE, cursor })}`);
    if (Array.isArray(answer.items)) return { items: answer.items, nextCursor: answer.nextCursor ?? null };
    if (Array.isArray(answer.contacts)) return { items: answer.contacts.map(toItem), nextCursor: null };
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 400) throw error;
  }
  // An older daemon: look up by phone or email only.
  if (!q) return { items: [], nextCursor: null, hint: 'Type a phone number (+15551234567) or an email address to find a contact.' };
  const lookup = q.includes('@') ? { email: q } : /^\+?[\d\s().-]{5,}$/.test(q) ? { phone: q.replace(/[\s().-]/g, '') } : null;
  if (!lookup) return { items: [], nextCursor: null, hint: 'This daemon searches by phone number or email address only.' };
  const answer = await get(`/contacts${query(lookup)}`);
  return { items: (answer.contacts ?? []).map(toItem), nextCursor: null };
}

/** A profile (`omni.contact/v1`) as a list item. */
function toItem(contact) {
  const lastSeen = contact.identities.map((i) => i.lastSeen).sort().at(-1) ?? null;
  return {
    id: contact.id,
    displayName: contact.displayName,
    lastActivityAt: lastSeen,
    identities: contact.identities.map((i) => ({ channel: i.channel, account: i.account, externalId: i.externalId, displayName: i.displayName, lastSeenAt: i.lastSeen })),
  };
}

function row(item) {
  const channels = [...new Set((item.identities ?? []).map((i) => i.channel))];
  return el(
    'li',
    { class: 'contact-row' },
    el(
      'a',
      { attrs: { href: `#/contacts/${encodeURIComponent(item.id)}`, 'data-contact-id': item.id } },
      el('span', { class: 'name', text: item.displayName || item.identities?.[0]?.externalId || item.id }),
      el('span', { class: 'channels' }, channels.map((channel) => el('span', { class: `badge ch-${channel}`, text: channel }))),
      el('span', { class: 'muted when', text: item.lastActivityAt ? relative(item.lastActivityAt) : '', attrs: { title: when(item.lastActivityAt) } }),
    ),
  );
}

/** Renders the list into `view`; returns a clean-up function. */
export async function showContactList(view, params) {
  const accounts = currentSession()?.accounts ?? [];
  const input = el('input', { attrs: { type: 'search', name: 'q', placeholder: 'Name, phone, email or external id', value: params.get('q') ?? '', 'aria-label': 'Search contacts', autocomplete: 'off' } });
  const accountSelect = el(
    'select',
    { attrs: { name: 'account', 'aria-label': 'Account' } },
    el('option', { text: 'all accounts', attrs: { value: '' } }),
    accounts.map((a) => el('option', { text: `${a.id} (${a.channel})`, attrs: { value: a.id, selected: params.get('account') === a.id } })),
  );
  const list = el('ul', { class: 'contact-list', attrs: { id: 'contact-list' } });
  const status = el('p', { class: 'muted', attrs: { id: 'list-status' } });
  const more = el('button', { class: 'secondary', text: 'More', attrs: { type: 'button', hidden: true } });
  const form = el('form', { class: 'search', attrs: { role: 'search' } }, input, accountSelect, el('button', { text: 'Search', attrs: { type: 'submit' } }));
  replace(view, el('h1', { text: 'Contacts' }), form, status, list, more);

  let cursor = null;
  let token = 0;
  // The search last submitted: a live refresh or "More" repeats it, never a half-typed query.
  let shown = { q: input.value.trim(), account: accountSelect.value };
  const load = async (append) => {
    const mine = ++token;
    const { q, account } = shown;
    status.textContent = 'Searching…';
    const page = await search(q, '', account, append ? cursor : undefined).catch((error) => ({ items: [], nextCursor: null, hint: error.message }));
    if (mine !== token) return;
    if (!append) list.replaceChildren();
    list.setAttribute('data-query', q);
    list.append(...page.items.map(row));
    cursor = page.nextCursor;
    more.hidden = !cursor;
    status.textContent = page.hint ?? (list.childElementCount === 0 ? 'No contacts found.' : '');
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    shown = { q: input.value.trim(), account: accountSelect.value };
    history.replaceState(null, '', `#/?${new URLSearchParams(shown)}`);
    void load(false);
  });
  more.addEventListener('click', () => void load(true));
  await load(false);
  input.focus();
  // Someone wrote: the first page of the list is reloaded (a moment later, once per burst).
  const source = new EventSource('/console/api/events');
  let timer = null;
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!cursor || list.childElementCount <= PAGE) void load(false);
    }, 500);
  };
  source.addEventListener('message', refresh);
  source.addEventListener('contact', refresh);
  source.addEventListener('resync', refresh);
  return () => {
    token++;
    clearTimeout(timer);
    source.close();
  };
}
