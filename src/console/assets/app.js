// The console's entry: session, routing (#/ and #/contacts/<id>), log out.
import { loadSession } from './api.js';
import { el, replace } from './dom.js';
import { showContactList } from './contacts.js';
import { showContact } from './contact.js';

const view = document.getElementById('view');
let leave = null;

async function route() {
  leave?.();
  leave = null;
  const match = /^#\/contacts\/([A-Za-z0-9_]+)$/.exec(location.hash);
  try {
    leave = match ? await showContact(view, match[1]) : await showContactList(view, new URLSearchParams(location.hash.split('?')[1] ?? ''));
  } catch (error) {
    replace(view, el('p', { class: 'error', text: error?.message ?? 'Could not load the page.' }));
  }
}

async function start() {
  const session = await loadSession();
  document.getElementById('who').textContent = session.readOnly ? 'read-only token' : '';
  if (session.readOnly) document.body.classList.add('read-only');
  document.getElementById('logout').addEventListener('click', async () => {
    await fetch('/console/logout', { method: 'POST', headers: { 'x-csrf-token': session.csrf }, credentials: 'same-origin' }).catch(() => undefined);
    location.assign('/console/login');
  });
  window.addEventListener('hashchange', route);
  await route();
}

start().catch(() => undefined);
