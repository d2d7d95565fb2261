// The REST envelope and the wire codes, shared by the chat client and the operator console.
//
// Every answer of the server is {status, data, msg, error}; `request` turns it into either
// the data or an ApiError that carries the code and a sentence a person can act on.

/** What each code means for the person at the keyboard (docs/api.md, "Codes"). */
const CODE_TEXT = {
  400: 'The request was not accepted',
  500: 'The server could not do that',
  30001: 'You are not signed in',
  30002: 'Your session has expired or was signed out',
  30008: 'The group is full',
  30009: 'No such group, or you are not a member of it',
  30010: 'You are already a member of this group',
  30011: 'No such user',
  30012: 'You are not allowed to do that',
  30013: 'Refused by a server rule',
  30014: 'The invite key is missing, unknown or already used',
  30015: 'The verification code is wrong or has expired',
  30016: 'Too many wrong codes; request a new one',
  30017: 'The file was refused',
  30018: 'That email address belongs to another account',
  30019: 'Too many requests; wait a moment and try again',
  30020: 'That is too large',
  30021: 'Not found',
  30022: 'That action is not available here',
  30023: 'Already on your friend list',
  30024: 'Not on your friend list',
  30050: 'Signing in is refused',
  50006: 'Refused by a limit',
};

/** A failed request: `code` is the wire code, `message` a full sentence. */
export class ApiError extends Error {
  constructor(code, message, http) {
    super(message);
    this.code = code;
    this.http = http;
  }
}

/**
 * A sentence for a code and the server's reason. A rule's reason (a plugin's, a limit's)
 * is what the person needs, so it is always shown when there is one.
 */
export function describe(code, reason) {
  const base = CODE_TEXT[code] || `Error ${code}`;
  const detail = typeof reason === 'string' ? reason.trim() : '';
  if (!detail || detail === base) return `${base}.`;
  return `${base}: ${detail}`;
}

/**
 * Sends a request and unwraps the envelope. `body` may be FormData, URLSearchParams, a
 * string (sent as JSON) or a plain object (sent as JSON).
 */
export async function request(method, path, { token, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body instanceof FormData || body instanceof URLSearchParams) {
    init.body = body;
  } else if (typeof body === 'string') {
    init.body = body;
    init.headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check your connection.', 0);
  }
  let envelope;
  try {
    envelope = await response.json();
  } catch {
    throw new ApiError(response.status, `The server answered ${response.status} without an envelope.`, response.status);
  }
  if (envelope.status !== 200) {
    // Failed logins and duplicate names carry their reason in `data` (the seed's habit).
    const reason = envelope.error || (typeof envelope.data === 'string' ? envelope.data : '');
    throw new ApiError(envelope.status, describe(envelope.status, reason), response.status);
  }
  return envelope.data;
}

/** Creates an element: `el('button', {type: 'button', onclick}, 'Send')`. Text is never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      node.className = value;
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Shows `text` in a live region; an empty text clears it. */
export function announce(region, text) {
  region.textContent = '';
  // A new text node makes screen readers announce a repeated message again.
  if (text) region.append(document.createTextNode(text));
  region.hidden = !text;
}
