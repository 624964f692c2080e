// The reply box: sends through POST /v1/messages with an idempotency key (one per composed
// message, kept on a retry), shows a refusal in words, and offers the account's templates
// where the window is closed.
//
// The box is built once per page and updated in place when the windows change, and what the
// agent has typed (the draft, the caret, the chosen identity, the template fields and the
// idempotency key) is kept per contact for as long as the page is open: a live update or a
// rebuilt page never loses it.
import { ApiError, currentSession, get, post, query } from './api.js';
import { el, replace } from './dom.js';
import { refusalInWords, windowInWords } from './words.js';

const newKey = () => `console-${crypto.randomUUID()}`;
const targetKey = (target) => `${target.channel}|${target.account}|${target.externalId}`;

/** contactId → what the agent is composing there. */
const drafts = new Map();

function draftOf(contactId) {
  let draft = drafts.get(contactId);
  if (!draft) {
    draft = { text: '', key: null, keyText: '', target: null, template: { name: '', language: 'en_US', params: '' }, focus: null, outcome: null, refusedOn: null };
    drafts.set(contactId, draft);
  }
  return draft;
}

/** The contact was merged into another: its draft goes along. */
export function moveDraft(fromId, toId) {
  const draft = drafts.get(fromId);
  if (!draft || fromId === toId) return;
  drafts.delete(fromId);
  if (!drafts.has(toId)) drafts.set(toId, draft);
}

/** `a | b` as `{ body: ['a', 'b'] }`; nothing typed, no parameters. */
const bodyParams = (text) => {
  const values = text.split('|').map((value) => value.trim()).filter(Boolean);
  return values.length ? { body: values } : {};
};

/** The templates of an account, or null where the daemon has no catalog (404) or the channel none. */
async function templatesOf(account) {
  try {
    const answer = await get(`/templates${query({ account })}`);
    return answer.items ?? answer.templates ?? [];
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 422 || error.status === 400)) return null;
    throw error;
  }
}

/** Which field has the focus and where its caret is, if it is one of `fields`. */
function focusIn(fields) {
  const active = document.activeElement;
  const name = Object.keys(fields).find((field) => fields[field] === active);
  return name ? { name, start: active.selectionStart, end: active.selectionEnd } : null;
}

function restoreFocus(field, focus) {
  field.focus();
  if (typeof focus.start === 'number') field.setSelectionRange(focus.start, focus.end ?? focus.start);
}

/**
 * Mounts the reply box of contact `contactId` in `container` (already in the page) and returns
 * { update(targets), save() }. `targets` are { channel, account, externalId, label, window }
 * (window as the conversations API gives it); `onSent(messageId)` is told of each accepted send.
 * On a `rebuild` of the page the last outcome is said again and the focus comes back.
 */
export function createReplyBox(container, { contactId, onSent, rebuild = false }) {
  const draft = draftOf(contactId);
  const readOnly = currentSession()?.readOnly === true;
  let targets = [];
  const select = el('select', { attrs: { name: 'target', id: 'reply-target', 'aria-label': 'Reply on' } });
  const text = el('textarea', { attrs: { name: 'text', rows: '3', placeholder: readOnly ? 'This token is read-only.' : 'Write a reply…', 'aria-label': 'Reply', maxlength: '4096' } });
  const send = el('button', { text: 'Send', attrs: { type: 'submit', id: 'send' } });
  const outcome = el('p', { class: 'outcome', attrs: { role: 'status', id: 'reply-outcome' } });
  const templates = el('div', { class: 'templates', attrs: { id: 'templates' } });
  const form = el('form', { class: 'reply', attrs: { id: 'reply-form', hidden: true } }, el('label', { text: 'Reply on', attrs: { for: 'reply-target' } }), select, text, el('div', { class: 'row' }, send), outcome, templates);
  const empty = el('p', { class: 'muted', text: 'Loading…', attrs: { id: 'reply-empty' } });
  replace(container, empty, form);

  // Template fields live across rebuilds of the template pane; their values are the draft's.
  const templateFields = {
    template: el('input', { attrs: { name: 'template', placeholder: 'template name', 'aria-label': 'Template name' } }),
    language: el('input', { attrs: { name: 'language', placeholder: 'language (en_US)', 'aria-label': 'Template language' } }),
    params: el('input', { attrs: { name: 'params', placeholder: 'body values, separated by |', 'aria-label': 'Template body values' } }),
  };
  const fields = { text, ...templateFields };
  text.value = draft.text;
  templateFields.template.value = draft.template.name;
  templateFields.language.value = draft.template.language;
  templateFields.params.value = draft.template.params;

  // A focus that was on a field before a rebuild comes back once the field is in the page,
  // once, and only if the agent has not gone on in the box meanwhile.
  let pendingFocus = rebuild ? draft.focus : null;
  /** Records the draft and the focus; called as the agent types and before the page is rebuilt. */
  const save = () => {
    // Only while this box is in the page: a replaced box must not overwrite a newer draft.
    if (!container.isConnected) return;
    draft.text = text.value;
    draft.template = { name: templateFields.template.value, language: templateFields.language.value, params: templateFields.params.value };
    draft.focus = focusIn(fields);
    pendingFocus = null;
  };
  // Not on blur: Chrome blurs a focused field while removing it, before it leaves the page.
  for (const field of Object.values(fields)) for (const type of ['input', 'keyup', 'mouseup', 'select', 'focus']) field.addEventListener(type, save);
  const focusIfPending = (name) => {
    const focus = pendingFocus;
    if (focus?.name !== name || !fields[name].isConnected) return;
    pendingFocus = null;
    restoreFocus(fields[name], focus);
    save();
  };

  const target = () => targets.find((t) => targetKey(t) === select.value) ?? targets[0];

  const say = (said) => {
    draft.outcome = said;
    outcome.className = said.code ? 'outcome error' : 'outcome';
    if (said.code) outcome.setAttribute('data-code', said.code);
    else outcome.removeAttribute('data-code');
    outcome.textContent = said.text;
  };
  if (rebuild && draft.outcome) say(draft.outcome);

  const submit = async (body, describe) => {
    say({ text: 'Sending…' });
    send.disabled = true;
    try {
      const answer = await post('/messages', body);
      say({ text: `${describe} accepted (${answer.status}).` });
      onSent(answer.messageId);
      return true;
    } catch (error) {
      say({ text: refusalInWords(error, { window: target()?.windowName }), code: error.code ?? 'internal' });
      if (error.code === 'session_expired') {
        // The daemon knows better than the page: templates stay offered for this identity until
        // the page learns of a new window.
        const refused = target();
        draft.refusedOn = refused ? { key: targetKey(refused), expiresAt: refused.window?.expiresAt ?? null } : null;
        void offerTemplates();
      }
      return false;
    } finally {
      send.disabled = readOnly;
    }
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = text.value;
    if (!value.trim() || !target()) return;
    // The same text retried keeps its key, also across live updates: a send that did reach the
    // daemon is not sent twice. A changed text is a new message with a new key.
    if (value !== draft.keyText || !draft.key) {
      draft.key = newKey();
      draft.keyText = value;
    }
    const { account, externalId } = target();
    const ok = await submit({ idempotencyKey: draft.key, account, to: { externalId }, parts: [{ type: 'text', text: value }] }, 'Message');
    // Cleared only if the agent did not go on typing while it was sent.
    if (ok && text.value === value) {
      text.value = '';
      draft.text = '';
      draft.key = null;
      draft.keyText = '';
    }
  });

  // What the template pane was built for: rebuilt only when the identity or its window changes.
  let offeredFor = null;
  let offering = 0;
  const offerTemplates = async () => {
    const current = target();
    if (!current) return;
    const { account, externalId, window } = current;
    const refused = draft.refusedOn?.key === targetKey(current) && draft.refusedOn.expiresAt === (window?.expiresAt ?? null);
    const open = windowInWords(window).state === 'open' && !refused;
    const shownFor = `${targetKey(current)}|${open ? 'open' : 'closed'}`;
    if (shownFor === offeredFor) return;
    offeredFor = shownFor;
    const mine = ++offering;
    if (open) {
      replace(templates);
      return;
    }
    const list = await templatesOf(account).catch(() => null);
    if (mine !== offering) return;
    const templateForm = el('form', { class: 'template-form' }, templateFields.template, templateFields.language, templateFields.params, el('button', { text: 'Send template', attrs: { type: 'submit' } }));
    templateForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const name = templateFields.template.value.trim();
      if (!name) return;
      const ok = await submit({ idempotencyKey: newKey(), account, to: { externalId }, template: { name, language: templateFields.language.value.trim() || 'en_US', params: bodyParams(templateFields.params.value) } }, 'Template');
      if (ok) {
        templateFields.template.value = '';
        templateFields.params.value = '';
        save();
      }
    });
    const heading = el('h3', { text: 'The window is closed: send a template' });
    if (list === null) {
      replace(templates, heading, el('p', { class: 'muted', text: 'This daemon lists no templates for the account; type an approved template’s name.' }), templateForm);
    } else {
      const usable = list.filter((t) => !t.status || t.status === 'APPROVED');
      const buttons = usable.slice(0, 20).map((t) =>
        el('button', {
          class: 'secondary',
          text: `${t.name} (${t.language ?? ''})`,
          attrs: { type: 'button', 'data-template': t.name },
          on: {
            click: () => {
              templateFields.template.value = t.name;
              templateFields.language.value = t.language ?? 'en_US';
              save();
            },
          },
        }),
      );
      replace(templates, heading, usable.length ? el('div', { class: 'template-list' }, buttons) : el('p', { class: 'muted', text: 'No approved templates.' }), templateForm);
    }
    for (const name of Object.keys(templateFields)) focusIfPending(name);
  };

  select.addEventListener('change', () => {
    draft.target = select.value;
    void offerTemplates();
  });
  if (readOnly) {
    text.disabled = true;
    send.disabled = true;
  }

  return {
    /** New targets (the windows changed): options and the template pane are updated in place. */
    update(next) {
      targets = next;
      const chosen = select.value || draft.target;
      select.replaceChildren(...targets.map((t) => el('option', { text: `${t.label} — ${windowInWords(t.window).text}`, attrs: { value: targetKey(t) } })));
      if (targets.some((t) => targetKey(t) === chosen)) select.value = chosen;
      form.hidden = targets.length === 0;
      empty.hidden = targets.length > 0;
      empty.textContent = 'No identity to reply to.';
      if (targets.length === 0) return;
      focusIfPending('text');
      void offerTemplates();
    },
    save,
  };
}
