// The reply box: sends through POST /v1/messages with an idempotency key (one per composed
// message, kept on a retry), shows a refusal in words, and offers the account's templates
// where the window is closed.
import { ApiError, currentSession, get, post, query } from './api.js';
import { el, replace } from './dom.js';
import { refusalInWords, windowInWords } from './words.js';

const newKey = () => `console-${crypto.randomUUID()}`;

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

/**
 * Mounts the reply box. `targets` are { channel, account, externalId, label, window } (window as
 * the conversations API gives it); `onSent(messageId)` is told of each accepted send.
 */
export function createReplyBox(container, { targets, onSent }) {
  const readOnly = currentSession()?.readOnly === true;
  const select = el('select', { attrs: { name: 'target', 'aria-label': 'Reply on' } });
  targets.forEach((target, index) => select.append(el('option', { text: `${target.label} — ${windowInWords(target.window).text}`, attrs: { value: String(index) } })));
  const text = el('textarea', { attrs: { name: 'text', rows: '3', placeholder: readOnly ? 'This token is read-only.' : 'Write a reply…', 'aria-label': 'Reply', maxlength: '4096' } });
  const send = el('button', { text: 'Send', attrs: { type: 'submit', id: 'send' } });
  const outcome = el('p', { class: 'outcome', attrs: { role: 'status', id: 'reply-outcome' } });
  const templates = el('div', { class: 'templates', attrs: { id: 'templates' } });
  const form = el('form', { class: 'reply', attrs: { id: 'reply-form' } }, el('label', { text: 'Reply on', attrs: { for: 'reply-target' } }), select, text, el('div', { class: 'row' }, send), outcome, templates);
  select.id = 'reply-target';
  replace(container, form);
  if (targets.length === 0) {
    replace(container, el('p', { class: 'muted', text: 'No identity to reply to.' }));
    return;
  }

  let key = newKey();
  let keyText = '';
  const target = () => targets[Number(select.value)] ?? targets[0];

  const submit = async (body, describe) => {
    outcome.className = 'outcome';
    outcome.textContent = 'Sending…';
    send.disabled = true;
    try {
      const answer = await post('/messages', body);
      outcome.textContent = `${describe} accepted (${answer.status}).`;
      onSent(answer.messageId);
      return true;
    } catch (error) {
      outcome.className = 'outcome error';
      outcome.setAttribute('data-code', error.code ?? 'internal');
      outcome.textContent = refusalInWords(error, { window: target().windowName });
      if (error.code === 'session_expired') void offerTemplates();
      return false;
    } finally {
      send.disabled = false;
    }
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = text.value;
    if (!value.trim()) return;
    // The same text retried keeps its key: a send that did reach the daemon is not sent twice.
    if (value !== keyText) {
      key = newKey();
      keyText = value;
    }
    const { account, externalId } = target();
    const ok = await submit({ idempotencyKey: key, account, to: { externalId }, parts: [{ type: 'text', text: value }] }, 'Message');
    if (ok) {
      text.value = '';
      keyText = '';
    }
  });

  const offerTemplates = async () => {
    const { account, externalId, window } = target();
    replace(templates);
    if (windowInWords(window).state === 'open') return;
    const list = await templatesOf(account).catch(() => null);
    const name = el('input', { attrs: { name: 'template', placeholder: 'template name', 'aria-label': 'Template name' } });
    const language = el('input', { attrs: { name: 'language', placeholder: 'language (en_US)', value: 'en_US', 'aria-label': 'Template language' } });
    const params = el('input', { attrs: { name: 'params', placeholder: 'body values, separated by |', 'aria-label': 'Template body values' } });
    const templateForm = el('form', { class: 'template-form' }, name, language, params, el('button', { text: 'Send template', attrs: { type: 'submit' } }));
    templateForm.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!name.value.trim()) return;
      void submit({ idempotencyKey: newKey(), account, to: { externalId }, template: { name: name.value.trim(), language: language.value.trim() || 'en_US', params: bodyParams(params.value) } }, 'Template');
    });
    const heading = el('h3', { text: 'The window is closed: send a template' });
    if (list === null) {
      templates.append(heading, el('p', { class: 'muted', text: 'This daemon lists no templates for the account; type an approved template’s name.' }), templateForm);
      return;
    }
    const usable = list.filter((t) => !t.status || t.status === 'APPROVED');
    const buttons = usable.slice(0, 20).map((t) =>
      el('button', {
        class: 'secondary',
        text: `${t.name} (${t.language ?? ''})`,
        attrs: { type: 'button', 'data-template': t.name },
        on: {
          click: () => {
            name.value = t.name;
            language.value = t.language ?? 'en_US';
          },
        },
      }),
    );
    templates.append(heading, usable.length ? el('div', { class: 'template-list' }, buttons) : el('p', { class: 'muted', text: 'No approved templates.' }), templateForm);
  };

  select.addEventListener('change', () => void offerTemplates());
  if (readOnly) {
    text.disabled = true;
    send.disabled = true;
  }
  void offerTemplates();
}
