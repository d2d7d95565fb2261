// The chat client: accounts, friends, groups and conversations over the REST API and the
// two WebSockets. No framework: the DOM is built with `el`, and user text only ever
// becomes text nodes, never HTML.
//
// Delivery rules the client keeps (docs/protocol.md):
// - every send carries a random client_id; the server stores a resend with the same id
//   once, so unacknowledged sends are simply sent again after a reconnect;
// - messages are keyed by their server id, so a message that arrives both live and in a
//   history page is shown once;
// - after a reconnect the newest history pages are read again until they meet what is
//   already shown, which fills any gap left while the socket was down.

import { ApiError, announce, describe, el, request } from './api.js';

// The frames' types, for editors only (host/web/jsconfig.json): generated from
// docs/schema/ws-frames.schema.json into clients/typescript/ (docs/clients.md).
/** @typedef {import('../../clients/typescript/ws-frames').ServerFrame} ServerFrame */
/** @typedef {import('../../clients/typescript/ws-frames').ClientFrame} ClientFrame */

/** A `before` above every id: the newest history page. */
const NEWEST = 9007199254740991;
/** The server's history page size. */
const PAGE = 10;
const STORE_KEY = 'confab.session';
const UPLOAD_PATH = /^\/upload\/(data|personal)\/[A-Za-z0-9_-]+\.([A-Za-z0-9]+)$/;
const IMAGE_EXTENSIONS = new Set(['png', 'jpg', 'jpeg', 'gif', 'webp']);

const $ = (id) => document.getElementById(id);
const ui = {
  auth: $('auth-view'), chat: $('chat-view'), error: $('error'), status: $('status'),
  whoami: $('whoami'), logout: $('logout'),
  authForm: $('auth-form'), username: $('auth-username'), password: $('auth-password'),
  key: $('auth-key'), register: $('register'),
  friends: $('friends'), addFriend: $('add-friend'), friendName: $('friend-name'),
  groups: $('groups'), createGroup: $('create-group'), joinGroup: $('join-group'),
  title: $('conv-title'), convState: $('conv-state'), groupPanel: $('group-panel'),
  members: $('members'), leave: $('leave-group'), older: $('older'),
  messages: $('messages'), composer: $('composer'), text: $('composer-text'), file: $('composer-file'),
};

// ---------------------------------------------------------------------------------------
// Session and REST

let session = loadSession();
let me = null;
/** user id → name, for everyone the client has met. */
const names = new Map();
/** Friends as [{id, name}], and people who wrote without being friends. */
let friends = [];
const strangers = new Map();
let groups = [];
/** user id → 'online' | 'offline', as last learnt from acknowledgements and messages. */
const presence = new Map();
/** user id → number of unread messages (a string such as "10+" when only a bound is known). */
const unread = new Map();
let inbox = null;
let conv = null;
let refreshing = null;

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY)) || {};
  } catch {
    return {};
  }
}

function saveSession(aToken, rToken) {
  session = { aToken, rToken };
  sessionStorage.setItem(STORE_KEY, JSON.stringify(session));
}

function showError(text) {
  announce(ui.error, text);
}

function say(text) {
  announce(ui.status, text);
}

/** Trades the rToken for a new pair once; concurrent callers share the attempt. */
function refresh() {
  if (!refreshing) {
    const rToken = session.rToken;
    refreshing = (rToken
      ? request('POST', '/user/refresh', { body: { rToken } }).then(
        (pair) => { saveSession(pair.aToken, pair.rToken); return true; },
        () => false)
      : Promise.resolve(false)
    ).finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** A REST call with the access token; on 30002 it refreshes once, then asks to sign in again. */
async function api(method, path, body) {
  const used = session.aToken;
  try {
    return await request(method, path, { token: used, body });
  } catch (error) {
    if (!(error instanceof ApiError) || (error.code !== 30002 && error.code !== 30001)) throw error;
    const renewed = session.aToken !== used || (error.code === 30002 && await refresh());
    if (renewed) {
      try {
        return await request(method, path, { token: session.aToken, body });
      } catch (again) {
        if (again instanceof ApiError && (again.code === 30002 || again.code === 30001)) expire();
        throw again;
      }
    }
    expire();
    throw error;
  }
}

/** The session cannot be renewed: back to the sign-in form. */
function expire() {
  signOutLocally();
  showError('Your session has ended. Please sign in again.');
}

function signOutLocally() {
  sessionStorage.removeItem(STORE_KEY);
  session = {};
  me = null;
  if (conv) conv.close();
  conv = null;
  if (inbox) inbox.close();
  inbox = null;
  showAuth();
}

function showAuth() {
  ui.chat.hidden = true;
  ui.auth.hidden = false;
  ui.whoami.hidden = true;
  ui.logout.hidden = true;
  ui.username.focus();
}

async function authenticate(register) {
  const username = ui.username.value.trim();
  const password = ui.password.value;
  if (!username || !password) {
    showError('Enter a username and a password.');
    return;
  }
  showError('');
  try {
    if (register) {
      const body = { username, password };
      if (ui.key.value.trim()) body.key = ui.key.value.trim();
      await request('POST', '/user/register', { body });
    }
    const pair = await request('POST', '/user/login', { body: { username, password } });
    saveSession(pair.aToken, pair.rToken);
    ui.password.value = '';
    await start();
  } catch (error) {
    showError(error.message);
  }
}

async function start() {
  try {
    me = await api('GET', '/user/me');
  } catch (error) {
    if (session.aToken) showError(error.message);
    showAuth();
    return;
  }
  names.set(me.ID, me.UserName);
  ui.auth.hidden = true;
  ui.chat.hidden = false;
  ui.whoami.textContent = `Signed in as ${me.UserName} (id ${me.ID})`;
  ui.whoami.hidden = false;
  ui.logout.hidden = false;
  await Promise.all([loadFriends(), loadGroups()]);
  openInbox();
  ui.friendName.focus();
}

// ---------------------------------------------------------------------------------------
// Friends and groups

async function loadFriends() {
  try {
    const list = await api('GET', '/friend/list');
    friends = list.map((f) => ({ id: f.target_id, name: (f.friend && f.friend.UserName) || `user ${f.target_id}` }));
    for (const f of friends) {
      names.set(f.id, f.name);
      strangers.delete(f.id);
    }
    renderFriends();
  } catch (error) {
    showError(error.message);
  }
}

function renderFriends() {
  const rows = [...friends, ...[...strangers.values()].map((s) => ({ ...s, stranger: true }))];
  const items = rows.map((f) => {
    const state = presence.get(f.id) || 'unknown';
    const count = unread.get(f.id);
    const current = conv && conv.kind === 'user' && conv.id === f.id;
    const label = `${f.name}${f.stranger ? ' (not a friend)' : ''}`;
    return el('li', {},
      el('button', {
        type: 'button', class: 'open', 'aria-current': current ? 'true' : 'false',
        dataset: { user: f.id }, onclick: () => openUser(f.id, f.name),
      },
      el('span', {}, label),
      el('span', { class: `presence ${state}` }, state === 'unknown' ? '' : state),
      count ? el('span', { class: 'badge', 'aria-label': `${count} unread` }, String(count)) : null),
      f.stranger
        ? el('button', { type: 'button', class: 'small secondary', onclick: () => addFriend(String(f.id)) }, 'Add', el('span', { class: 'sr-only' }, ` ${f.name}`))
        : el('button', { type: 'button', class: 'small danger', onclick: () => removeFriend(f) }, 'Remove', el('span', { class: 'sr-only' }, ` ${f.name}`)));
  });
  ui.friends.replaceChildren(...items);
  if (!items.length) ui.friends.append(el('li', { class: 'muted' }, 'No friends yet.'));
}

async function addFriend(who) {
  showError('');
  try {
    const user = await api('GET', `/user/find?info=${encodeURIComponent(who)}`);
    await api('POST', '/friend/add', { target_id: user.ID });
    say(`${user.UserName} was added to your friends.`);
    ui.friendName.value = '';
    await loadFriends();
  } catch (error) {
    showError(error.message);
  }
}

async function removeFriend(friend) {
  showError('');
  try {
    await api('POST', '/friend/delete', { target_id: friend.id });
    say(`${friend.name} was removed from your friends.`);
    await loadFriends();
  } catch (error) {
    showError(error.message);
  }
}

async function loadGroups() {
  try {
    groups = await api('GET', '/group/joined');
    renderGroups();
  } catch (error) {
    showError(error.message);
  }
}

function renderGroups() {
  const items = groups.map((g) => {
    const current = conv && conv.kind === 'group' && conv.id === g.ID;
    return el('li', {},
      el('button', {
        type: 'button', class: 'open', 'aria-current': current ? 'true' : 'false',
        dataset: { group: g.ID }, onclick: () => openGroup(g),
      },
      el('span', {}, g.group_name),
      el('span', { class: 'presence' }, `#${g.ID} · ${g.member_count ?? '?'}/${g.size}`)));
  });
  ui.groups.replaceChildren(...items);
  if (!items.length) ui.groups.append(el('li', { class: 'muted' }, 'No groups yet.'));
}

async function createGroup(event) {
  event.preventDefault();
  showError('');
  const body = {
    group_name: $('group-name').value.trim(),
    desc: $('group-desc').value.trim(),
    size: $('group-size').value || 200,
  };
  try {
    const group = await api('POST', '/group/create', body);
    say(`Group ${group.group_name} was created with id ${group.ID}.`);
    ui.createGroup.reset();
    await loadGroups();
    openGroup(group);
  } catch (error) {
    showError(error.message);
  }
}

async function joinGroup(event) {
  event.preventDefault();
  showError('');
  const id = $('join-id').value.trim();
  try {
    await api('POST', '/group/join', { group_id: id });
    ui.joinGroup.reset();
    await loadGroups();
    const group = groups.find((g) => String(g.ID) === id);
    say(`You joined ${group ? group.group_name : `group ${id}`}.`);
    if (group) openGroup(group);
  } catch (error) {
    showError(error.message);
  }
}

const ROLE_NAMES = { 1: 'owner', 2: 'admin', 0: 'member' };

async function loadMembers(group) {
  try {
    const members = await api('GET', `/group/members?group_id=${group.ID}`);
    if (!conv || conv.kind !== 'group' || conv.id !== group.ID) return;
    for (const m of members) names.set(m.ID, m.UserName);
    const mine = members.find((m) => m.ID === me.ID);
    const myRole = mine ? mine.role : 0;
    ui.members.replaceChildren(...members.map((m) => el('li', {},
      el('span', {}, `${m.UserName} — ${ROLE_NAMES[m.role] || m.role}`),
      myRole === 1 && m.role !== 1
        ? el('button', {
          type: 'button', class: 'small secondary',
          onclick: () => memberAction('/group/role', { group_id: group.ID, user_id: m.ID, role: m.role === 2 ? 0 : 2 }, group),
        }, m.role === 2 ? `Make ${m.UserName} a member` : `Make ${m.UserName} an admin`)
        : null,
      (myRole === 1 && m.role !== 1) || (myRole === 2 && m.role === 0)
        ? el('button', {
          type: 'button', class: 'small danger',
          onclick: () => memberAction('/group/remove', { group_id: group.ID, user_id: m.ID }, group),
        }, `Remove ${m.UserName}`)
        : null)));
    conv.rerenderNames();
  } catch (error) {
    showError(error.message);
  }
}

async function memberAction(path, body, group) {
  showError('');
  try {
    await api('POST', path, body);
    say('Done.');
    await loadMembers(group);
  } catch (error) {
    showError(error.message);
  }
}

async function leaveGroup() {
  if (!conv || conv.kind !== 'group') return;
  const group = conv.group;
  showError('');
  try {
    await api('DELETE', '/group/delete', { group_id: group.ID });
    closeConversation();
    say(`You left ${group.group_name}.`);
    await loadGroups();
  } catch (error) {
    showError(error.message);
  }
}

// ---------------------------------------------------------------------------------------
// WebSockets

/**
 * One socket that reconnects after a drop. Browsers cannot set headers on a WebSocket, so
 * the token goes in `?token=`, which the server accepts for exactly this reason.
 */
class Channel {
  /**
   * @param {string} path
   * @param {{onOpen: () => void, onFrame: (frame: ServerFrame) => void,
   *   onGiveUp: (code: number) => void}} handlers
   */
  constructor(path, { onOpen, onFrame, onGiveUp }) {
    this.path = path;
    this.onOpen = onOpen;
    this.onFrame = onFrame;
    this.onGiveUp = onGiveUp;
    this.ws = null;
    this.closed = false;
    this.failures = 0;
    this.connect();
  }

  connect() {
    if (this.closed || !session.aToken) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sep = this.path.includes('?') ? '&' : '?';
    const ws = new WebSocket(`${scheme}//${location.host}${this.path}${sep}token=${encodeURIComponent(session.aToken)}`);
    this.ws = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      this.failures = 0;
      this.onOpen();
    });
    ws.addEventListener('message', (event) => {
      /** @type {ServerFrame} */
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws || this.closed) return;
      this.ws = null;
      this.retry(opened, event.code);
    });
  }

  async retry(opened, code) {
    if (!opened) this.failures += 1;
    if (code === 1008 || this.failures >= 4) {
      // Refused for good (signed out, no longer a member) or refused before the upgrade:
      // ask the REST API why, which also renews an expired token.
      try {
        await api('GET', '/user/me');
      } catch {
        return;
      }
      if (code === 1008 || this.failures >= 6) {
        this.closed = true;
        this.onGiveUp(code);
        return;
      }
    }
    const delay = Math.min(10000, 300 * 2 ** Math.min(this.failures, 6));
    setTimeout(() => this.connect(), delay);
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** @param {ClientFrame} frame */
  send(frame) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }

  /** Drops the connection as a network failure would (used by tests and "Reconnect"). */
  drop() {
    if (this.ws) this.ws.close(4000, 'dropped by the client');
  }
}

/** The inbox: every private message of the user, for unread counts and presence. */
function openInbox() {
  const pending = [];
  inbox = new Channel('/chat/ws', {
    onOpen: () => {
      // Unread counts: the newest page of each conversation, counting the peer's unread
      // messages. A full page of unread ones means "at least 10".
      pending.length = 0;
      for (const f of friends) {
        pending.push({ peer: f.id, count: 0, unread: 0 });
        inbox.send({ type: 2, to: f.id, content: '', before: NEWEST });
      }
    },
    onFrame: (frame) => {
      if (frame.code === 0 || frame.code === 50003) {
        const head = pending[0];
        if (!head) return;
        if (frame.code === 0) {
          head.count += 1;
          if (frame.from === 'you' && !frame.read) head.unread += 1;
        }
        if (frame.code === 50003 || head.count >= PAGE) {
          pending.shift();
          const open = conv && conv.kind === 'user' && conv.id === head.peer;
          if (!open) setUnread(head.peer, head.unread >= PAGE ? `${PAGE}+` : head.unread);
        }
        return;
      }
      if (frame.code === 50001) inboxMessage(frame);
    },
    onGiveUp: () => showError('The connection for new messages was closed by the server. Reload the page to reconnect.'),
  });
}

function setUnread(peer, count) {
  if (count) unread.set(peer, count); else unread.delete(peer);
  renderFriends();
}

async function inboxMessage(frame) {
  const from = Number(frame.from);
  const peer = from === me.ID ? Number(frame.to) : from;
  if (from !== me.ID) presence.set(from, 'online');
  const open = conv && conv.kind === 'user' && conv.id === peer;
  if (!open && from !== me.ID) {
    const now = unread.get(peer);
    setUnread(peer, typeof now === 'string' ? now : (now || 0) + 1);
    if (!names.has(peer)) {
      try {
        const user = await api('GET', `/user/find?info=${peer}`);
        names.set(peer, user.UserName);
        if (!friends.some((f) => f.id === peer)) strangers.set(peer, { id: peer, name: user.UserName });
      } catch {
        names.set(peer, `user ${peer}`);
      }
    }
    say(`New message from ${names.get(peer)}.`);
  }
  renderFriends();
}

// ---------------------------------------------------------------------------------------
// Conversations

function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function formatTime(seconds) {
  if (!seconds) return '';
  const date = new Date(seconds * 1000);
  return date.toLocaleString([], { hour: '2-digit', minute: '2-digit', day: 'numeric', month: 'short' });
}

/** The body of a message: an uploaded image inline, another upload as a link, or text. */
function messageBody(content, senderName) {
  const match = UPLOAD_PATH.exec(content);
  if (match) {
    const ext = match[2].toLowerCase();
    if (IMAGE_EXTENSIONS.has(ext)) {
      return el('a', { href: content, target: '_blank', rel: 'noopener' },
        el('img', { src: content, alt: `Image from ${senderName}`, loading: 'lazy' }));
    }
    return el('a', { href: content, target: '_blank', rel: 'noopener', download: '' }, `File (${ext}): ${content.split('/').pop()}`);
  }
  return el('span', { class: 'body' }, content);
}

class Conversation {
  /** `kind` is 'user' or 'group'; `id` the peer's or the group's id. */
  constructor(kind, id, title) {
    this.kind = kind;
    this.id = id;
    this.title = title;
    this.messages = new Map();
    this.pending = new Map();
    this.requests = [];
    this.oldest = null;
    this.reachedStart = false;
    this.loaded = false;
    const path = kind === 'user' ? `/chat/ws?toUid=${id}` : `/chat/group_ws?group_id=${id}`;
    this.channel = new Channel(path, {
      onOpen: () => this.opened(),
      onFrame: (frame) => this.frame(frame),
      onGiveUp: (code) => this.gaveUp(code),
    });
  }

  close() {
    clearTimeout(this.readTimer);
    this.channel.close();
  }

  opened() {
    ui.convState.textContent = this.kind === 'user' ? this.presenceText() : 'connected';
    // Resend what was never acknowledged; the server answers a duplicate with the stored copy.
    for (const p of this.pending.values()) {
      if (p.state === 'pending') this.channel.send(this.sendFrame(p));
    }
    this.requests = [];
    const known = [...this.messages.keys()];
    this.history(NEWEST, known.length ? Math.max(...known) : null);
    if (this.kind === 'user') {
      this.requests.push({ kind: 'unread' });
      this.channel.send({ type: 3, content: '' });
    }
  }

  gaveUp(code) {
    if (this.kind === 'group' && code === 1008) {
      showError(`You are no longer a member of ${this.title}.`);
      loadGroups();
    } else {
      showError(`The conversation with ${this.title} could not be reopened. Reload the page to try again.`);
    }
    ui.convState.textContent = 'disconnected';
  }

  presenceText() {
    const state = presence.get(this.id);
    return state ? state : 'connected';
  }

  /**
   * Asks for the page before `before`. With `resyncTo` (the newest id shown before a
   * reconnect) it pages on backwards until the pages reach it, so no gap stays.
   */
  history(before, resyncTo = null) {
    if (this.requests.some((r) => r.kind === 'history')) return;
    this.requests.push({ kind: 'history', before, count: 0, ids: [], resyncTo });
    ui.older.disabled = true;
    this.channel.send({ type: 2, content: '', before });
  }

  /**
   * Messages are unread until type 3 asks for them; one shown in the open conversation
   * has been seen, so the client asks (once for a burst) while the page is visible.
   */
  markRead() {
    if (this.readTimer || document.visibilityState !== 'visible') return;
    this.readTimer = setTimeout(() => {
      this.readTimer = null;
      if (this.channel.open) {
        this.requests.push({ kind: 'unread' });
        this.channel.send({ type: 3, content: '' });
      }
    }, 300);
  }

  loadOlder() {
    if (this.reachedStart || this.oldest === null) return;
    this.history(this.oldest);
  }

  sendFrame(p) {
    return { type: 1, content: p.content, client_id: p.clientId };
  }

  send(content) {
    const p = { clientId: randomId(), content, state: 'pending', node: null };
    this.pending.set(p.clientId, p);
    p.node = this.node({ id: null, sender: me.ID, content, ts: Math.floor(Date.now() / 1000) }, p);
    this.place(p.node, null, true);
    if (!this.channel.send(this.sendFrame(p))) say('Not connected; the message will be sent when the connection is back.');
  }

  retry(p) {
    p.state = 'pending';
    p.node.classList.remove('failed');
    p.node.classList.add('pending');
    p.node.querySelector('.why')?.remove();
    p.node.querySelector('.retry')?.remove();
    this.channel.send(this.sendFrame(p));
  }

  /** @param {ServerFrame} frame */
  frame(frame) {
    if (this.kind === 'user') this.userFrame(frame); else this.groupFrame(frame);
  }

  /** @param {ServerFrame} frame */
  userFrame(frame) {
    switch (frame.code) {
      case 50002:
        return;
      case 50001:
        this.add({ id: frame.id, sender: Number(frame.from), content: frame.content, ts: frame.ts }, frame.client_id);
        if (Number(frame.from) === this.id) {
          this.setPresence('online');
          this.markRead();
        }
        return;
      case 0: {
        const sender = frame.from === 'me' ? me.ID : this.id;
        this.add({ id: frame.id, sender, content: frame.content, ts: frame.ts, read: frame.read });
        this.pageFrame(frame.id);
        return;
      }
      case 50003:
        this.pageEnd();
        return;
      case 50004:
      case 50005:
        this.acknowledged(frame.client_id, frame.id, frame.ts, frame.rewritten ? frame.stored : undefined);
        this.setPresence(frame.code === 50004 ? 'online' : 'offline');
        return;
      default:
        this.refused(frame);
    }
  }

  /** @param {ServerFrame} frame */
  groupFrame(frame) {
    if (frame.sender !== undefined) {
      this.add({ id: frame.id, sender: Number(frame.sender), content: frame.content, ts: frame.timestamp });
      this.pageFrame(frame.id);
      return;
    }
    if (frame.code === 50002 && frame.id) {
      this.acknowledged(frame.client_id, frame.id, frame.timestamp, frame.rewritten ? frame.stored : undefined);
    } else if (frame.code === 50003) {
      this.pageEnd();
    } else if (frame.code !== 50002) {
      this.refused(frame);
    }
  }

  setPresence(state) {
    presence.set(this.id, state);
    ui.convState.textContent = state;
    renderFriends();
  }

  /** A frame of the history page or unread listing at the head of the queue. */
  pageFrame(id) {
    const head = this.requests[0];
    if (!head) return;
    if (head.kind === 'history' && id < head.before) {
      head.count += 1;
      head.ids.push(id);
      if (head.count >= PAGE) this.pageDone(head, false);
    }
  }

  pageEnd() {
    const head = this.requests[0];
    if (!head) return;
    if (head.kind === 'history') this.pageDone(head, true); else this.requests.shift();
  }

  pageDone(head, end) {
    this.requests.shift();
    if (end) this.reachedStart = true;
    if (head.ids.length) {
      const first = Math.min(...head.ids);
      this.oldest = this.oldest === null ? first : Math.min(this.oldest, first);
    }
    ui.older.disabled = false;
    ui.older.hidden = this.reachedStart;
    if (!this.loaded) {
      this.loaded = true;
      ui.messages.scrollTop = ui.messages.scrollHeight;
    }
    // A resync reads newer pages until it reaches a message already known.
    if (head.resyncTo !== null && !end && head.ids.length) {
      const first = Math.min(...head.ids);
      if (first > head.resyncTo) this.history(first, head.resyncTo);
    }
    this.fillView();
  }

  /** Loads older pages while the list does not fill its box, so scrolling can start. */
  fillView() {
    const box = ui.messages;
    if (!this.reachedStart && box.scrollHeight <= box.clientHeight + 4) this.loadOlder();
  }

  /** `stored` is the text the server kept when a rule rewrote what was sent. */
  acknowledged(clientId, id, ts, stored) {
    const p = clientId && this.pending.get(clientId);
    if (!p) return;
    this.pending.delete(clientId);
    if (this.messages.has(id)) {
      p.node.remove();
      return;
    }
    const rewritten = typeof stored === 'string';
    const message = { id, sender: me.ID, content: rewritten ? stored : p.content, ts };
    this.messages.set(id, message);
    if (rewritten) {
      // The body follows the meta line, whether text, an image or a link.
      p.node.querySelector('.meta')?.nextElementSibling?.replaceWith(messageBody(stored, 'You'));
      p.node.append(el('span', { class: 'rewritten', title: `You wrote: ${p.content}` }, 'Rewritten by the server'));
    }
    p.node.classList.remove('pending', 'failed');
    p.node.dataset.id = id;
    delete p.node.dataset.clientId;
    this.place(p.node, id, true);
  }

  refused(frame) {
    const text = describe(frame.code, frame.content);
    const p = frame.client_id && this.pending.get(frame.client_id);
    if (!p) {
      showError(text);
      return;
    }
    p.state = 'failed';
    p.node.classList.remove('pending');
    p.node.classList.add('failed');
    p.node.querySelector('.why')?.remove();
    p.node.append(el('span', { class: 'why' }, `Not sent. ${text}`));
    // Internal errors and rate limits may pass on a second try; a rule's refusal will not.
    if ((frame.code === 500 || frame.code === 30019) && !p.node.querySelector('.retry')) {
      p.node.append(el('button', { type: 'button', class: 'small secondary retry', onclick: () => this.retry(p) }, 'Send again'));
    }
    showError(text);
  }

  /** Adds a stored message once, in id order. */
  add(message, clientId) {
    if (message.id === undefined || message.id === null) return;
    if (clientId && this.pending.has(clientId)) {
      this.acknowledged(clientId, message.id, message.ts);
      return;
    }
    if (this.messages.has(message.id)) return;
    this.messages.set(message.id, message);
    if (this.kind === 'group' && !names.has(message.sender) && !this.membersStale) {
      // Someone who joined after the member list was read: read it again, once.
      this.membersStale = true;
      loadMembers(this.group).finally(() => { this.membersStale = false; });
    }
    const node = this.node(message, null);
    this.place(node, message.id, message.sender === me.ID);
    if (message.sender !== me.ID && this.loaded) {
      say(`${names.get(message.sender) || 'Someone'}: ${message.content}`);
    }
  }

  node(message, pending) {
    const name = message.sender === me.ID ? 'You' : (names.get(message.sender) || `user ${message.sender}`);
    return el('li', {
      class: `msg${message.sender === me.ID ? ' mine' : ''}${pending ? ' pending' : ''}`,
      dataset: pending ? { clientId: pending.clientId, sender: message.sender } : { id: message.id, sender: message.sender },
    },
    el('span', { class: 'meta' }, el('span', { class: 'who' }, name), ` · ${formatTime(message.ts)}`),
    messageBody(message.content, name));
  }

  /** Puts a node in id order (pending ones last), keeping the reader's place. */
  place(node, id, mine) {
    const box = ui.messages;
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const fromBottom = box.scrollHeight - box.scrollTop;
    let before = null;
    if (id !== null) {
      for (const child of box.children) {
        if (child === node) continue;
        const childId = child.dataset.id ? Number(child.dataset.id) : Infinity;
        if (childId > id) {
          before = child;
          break;
        }
      }
    }
    box.insertBefore(node, before);
    if (before !== null && !nearBottom) {
      box.scrollTop = box.scrollHeight - fromBottom;
    } else if (nearBottom || mine) {
      box.scrollTop = box.scrollHeight;
    }
  }

  rerenderNames() {
    for (const node of ui.messages.querySelectorAll('.msg')) {
      const sender = Number(node.dataset.sender);
      const who = node.querySelector('.who');
      if (who && sender !== me.ID && names.has(sender)) who.textContent = names.get(sender);
    }
  }
}

function closeConversation() {
  if (conv) conv.close();
  conv = null;
  ui.messages.replaceChildren();
  ui.title.textContent = 'No conversation open';
  ui.convState.textContent = '';
  ui.composer.hidden = true;
  ui.groupPanel.hidden = true;
  ui.older.hidden = true;
  renderFriends();
  renderGroups();
}

function openUser(id, name) {
  closeConversation();
  conv = new Conversation('user', id, name);
  unread.delete(id);
  ui.title.textContent = `Chat with ${name}`;
  ui.convState.textContent = 'connecting…';
  ui.composer.hidden = false;
  renderFriends();
  ui.text.focus();
}

function openGroup(group) {
  closeConversation();
  conv = new Conversation('group', group.ID, group.group_name);
  conv.group = group;
  ui.title.textContent = `Group ${group.group_name} (#${group.ID})`;
  ui.convState.textContent = 'connecting…';
  ui.composer.hidden = false;
  ui.groupPanel.hidden = false;
  renderGroups();
  loadMembers(group);
  ui.text.focus();
}

async function submitMessage(event) {
  event.preventDefault();
  if (!conv) return;
  const text = ui.text.value.trim();
  if (!text) return;
  ui.text.value = '';
  conv.send(text);
}

async function uploadFile() {
  const file = ui.file.files[0];
  ui.file.value = '';
  if (!file || !conv) return;
  const target = conv;
  const form = new FormData();
  form.append('file', file);
  say(`Uploading ${file.name}…`);
  try {
    const { url } = await api('POST', '/user/upload', form);
    if (conv === target) target.send(url);
    say(`${file.name} was sent.`);
  } catch (error) {
    showError(error.message);
  }
}

// ---------------------------------------------------------------------------------------
// Wiring

ui.authForm.addEventListener('submit', (event) => {
  event.preventDefault();
  authenticate(false);
});
ui.register.addEventListener('click', () => authenticate(true));
ui.logout.addEventListener('click', async () => {
  try {
    await api('POST', '/user/logout');
  } catch {
    // Signing out locally is what matters to the person; the tokens expire anyway.
  }
  signOutLocally();
  say('Signed out.');
});
ui.addFriend.addEventListener('submit', (event) => {
  event.preventDefault();
  const who = ui.friendName.value.trim();
  if (who) addFriend(who);
});
ui.createGroup.addEventListener('submit', createGroup);
ui.joinGroup.addEventListener('submit', joinGroup);
ui.leave.addEventListener('click', leaveGroup);
ui.older.addEventListener('click', () => conv && conv.loadOlder());
ui.messages.addEventListener('scroll', () => {
  if (conv && ui.messages.scrollTop < 40) conv.loadOlder();
});
ui.composer.addEventListener('submit', submitMessage);
ui.text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.file.addEventListener('change', uploadFile);

// A hook for the browser tests: drop the sockets as a network failure would.
window.confabDebug = {
  drop() {
    if (conv) conv.channel.drop();
    if (inbox) inbox.drop();
  },
};

if (session.aToken) start(); else showAuth();
