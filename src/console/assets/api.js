// Calls to the daemon: `/console/api/v1/*` is the `/v1` API with this session's token (the
// server holds it); every write carries the session's CSRF token.

let session = null;

/** Thrown for an answer that is not ok; `code` and `details` are the API's. */
export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code ?? 'internal';
    this.details = error?.details ?? {};
  }
}

/** The session facts (CSRF token, read-only, accounts); goes to the login page without one. */
export async function loadSession() {
  const response = await fetch('/console/api/session', { credentials: 'same-origin' });
  if (response.status === 401) {
    location.assign('/console/login');
    throw new ApiError(401, { code: 'unauthorized', message: 'not logged in' });
  }
  session = await response.json();
  return session;
}

export const currentSession = () => session;

async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers['x-csrf-token'] = session?.csrf ?? '';
  }
  const response = await fetch(`/console/api/v1${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (response.status === 401 && path !== '/templates') {
    location.assign('/console/login');
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    json = null;
  }
  if (!response.ok || json?.ok === false) throw new ApiError(response.status, json?.error);
  return json;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);

/** A query string from an object, skipping empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** A short-lived signed link for stored media, as a same-origin path. */
const links = new Map();
export async function mediaLink(id) {
  const cached = links.get(id);
  if (cached && cached.expires > Date.now() + 30_000) return cached.path;
  const answer = await get(`/media/${encodeURIComponent(id)}/link?ttl=600`);
  const url = new URL(answer.url, location.origin);
  const path = `${url.pathname}${url.search}`;
  links.set(id, { path, expires: new Date(answer.expiresAt).getTime() });
  return path;
}
