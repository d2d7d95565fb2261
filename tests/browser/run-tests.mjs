// The chat client and the operator console in a real browser (Debian's Chromium through
// playwright-core), against a running server: CONFAB_BASE (http://host:port) and
// CONFAB_ADMIN_TOKEN come from run.sh. Each test uses fresh users, so none depends on
// another's order. Every wait has a timeout.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = process.env.CONFAB_BASE;
const ADMIN_TOKEN = process.env.CONFAB_ADMIN_TOKEN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS = process.env.CONFAB_SCREENSHOTS
  || join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'screenshots');
const PASSWORD = 'browser-test-pass';
const WAIT_MS = 15000;
const ONLY = process.env.BROWSER_ONLY || '';
// The one other origin the server allows for CORS (run.sh serves a page there), if any.
const PAGE_ORIGIN = process.env.CONFAB_PAGE_ORIGIN || '';

if (!BASE || !ADMIN_TOKEN) {
  console.error('CONFAB_BASE and CONFAB_ADMIN_TOKEN must be set (tests/browser/run.sh sets them)');
  process.exit(2);
}

const run = Math.random().toString(36).slice(2, 7);
let counter = 0;
const uniqueName = (prefix) => `${prefix}_${run}${++counter}`;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Page errors fail the test that caused them. */
const pageErrors = [];

async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/WebSocket|Failed to load resource/.test(msg.text())) {
      pageErrors.push(`console: ${msg.text()}`);
    }
  });
  return { context, page };
}

/** Registers a new user in a fresh browser context and signs in. */
async function newUser(browser, prefix) {
  const { context, page } = await newPage(browser);
  const name = uniqueName(prefix);
  await page.goto(`${BASE}/`);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Signed in as ${name}`).waitFor();
  return { context, page, name };
}

async function addFriend(user, other) {
  await user.page.getByLabel('Add a friend by name or id').fill(other.name);
  await user.page.getByRole('button', { name: 'Add', exact: true }).click();
  await friendButton(user, other).waitFor();
}

function friendButton(user, other) {
  return user.page.locator('#friends button.open', { hasText: other.name });
}

async function openChat(user, other) {
  await friendButton(user, other).click();
  await user.page.locator('#conv-title', { hasText: `Chat with ${other.name}` }).waitFor();
  await waitConnected(user.page);
}

async function waitConnected(page) {
  await page.waitForFunction(() => {
    const state = document.getElementById('conv-state').textContent;
    return state && state !== 'connecting…';
  }, null, { timeout: WAIT_MS });
}

/** Sends through the composer with the keyboard and waits for the server's acknowledgement. */
/** Sends `text` and waits until it is stored, shown as `stored` when a rule rewrote it. */
async function send(user, text, stored = text) {
  const box = user.page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
  await user.page.locator('#messages li.msg.mine[data-id]', { hasText: stored }).last().waitFor();
}

function message(user, text) {
  return user.page.locator('#messages li.msg', { hasText: text });
}

async function expectOnce(user, text) {
  await message(user, text).first().waitFor();
  const count = await message(user, text).count();
  check(count === 1, `${user.name} sees ${JSON.stringify(text)} ${count} times`);
}

async function adminApi(method, path, body) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const envelope = await response.json();
  check(envelope.status === 200, `${method} ${path}: ${JSON.stringify(envelope)}`);
  return envelope.data;
}

// ---------------------------------------------------------------------------------------

const tests = {
  async 'two users befriend and chat both ways, live, across a dropped connection'(browser) {
    const alice = await newUser(browser, 'alice');
    const bob = await newUser(browser, 'bob');
    await addFriend(alice, bob);
    await addFriend(bob, alice);

    await openChat(alice, bob);
    await send(alice, 'hello bob');
    // Bob has not opened the conversation: his inbox counts the message as unread.
    await friendButton(bob, alice).locator('.badge', { hasText: '1' }).waitFor();
    await openChat(bob, alice);
    await expectOnce(bob, 'hello bob');
    check(await friendButton(bob, alice).locator('.badge').count() === 0, 'opening clears the count');

    await send(bob, 'hi alice');
    await expectOnce(alice, 'hi alice');
    // Bob had a socket open, so Alice's acknowledgement said he is online.
    await alice.page.locator('#conv-state', { hasText: 'online' }).waitFor();
    await send(alice, 'how are you?');
    await expectOnce(bob, 'how are you?');

    // Alice's sockets drop; she types while offline and Bob writes meanwhile. After the
    // reconnect both messages are there, each exactly once, on both sides.
    await alice.page.evaluate(() => window.confabDebug.drop());
    const box = alice.page.getByLabel('Message', { exact: true });
    await box.fill('typed while reconnecting');
    await box.press('Enter');
    await send(bob, 'written while you were away');
    await expectOnce(alice, 'written while you were away');
    await alice.page.locator('#messages li.msg.mine[data-id]', { hasText: 'typed while reconnecting' }).waitFor();
    await expectOnce(alice, 'typed while reconnecting');
    await expectOnce(bob, 'typed while reconnecting');
    await expectOnce(alice, 'hello bob');

    await bob.page.evaluate(() => window.confabDebug.drop());
    await send(alice, 'after bob reconnected');
    await expectOnce(bob, 'after bob reconnected');

    mkdirSync(SCREENSHOTS, { recursive: true });
    await alice.page.screenshot({ path: join(SCREENSHOTS, 'client.png') });

    // Removing a friend takes them off the list.
    await alice.page.getByRole('button', { name: `Remove ${bob.name}` }).click();
    await friendButton(alice, bob).waitFor({ state: 'detached' });
    await alice.context.close();
    await bob.context.close();
  },

  async 'a group of three chats'(browser) {
    const [alice, bob, carol] = [
      await newUser(browser, 'galice'), await newUser(browser, 'gbob'), await newUser(browser, 'gcarol'),
    ];
    const groupName = `crew ${run}`;
    await alice.page.getByText('Create or join a group').click();
    await alice.page.getByLabel('New group name').fill(groupName);
    await alice.page.getByLabel('Description').fill('three of us');
    await alice.page.getByRole('button', { name: 'Create group' }).click();
    const title = alice.page.locator('#conv-title', { hasText: groupName });
    await title.waitFor();
    const id = /#(\d+)/.exec(await title.textContent())[1];
    await waitConnected(alice.page);

    for (const member of [bob, carol]) {
      await member.page.getByText('Create or join a group').click();
      await member.page.getByLabel('Join a group by its id').fill(id);
      await member.page.getByRole('button', { name: 'Join', exact: true }).click();
      await member.page.locator('#conv-title', { hasText: groupName }).waitFor();
      await waitConnected(member.page);
    }
    await send(alice, 'hello crew');
    await expectOnce(bob, 'hello crew');
    await expectOnce(carol, 'hello crew');
    await send(carol, 'carol here');
    await expectOnce(alice, 'carol here');
    await expectOnce(bob, 'carol here');
    // Names come from the member list.
    await bob.page.locator('#messages li.msg', { hasText: 'carol here' }).locator('.who', { hasText: carol.name }).waitFor();

    // Roles: the owner makes Bob an admin; everyone sees three members.
    await alice.page.getByText('Members and roles').click();
    await alice.page.getByRole('button', { name: `Make ${bob.name} an admin` }).click();
    await alice.page.locator('#members li', { hasText: `${bob.name} — admin` }).waitFor();
    check(await alice.page.locator('#members li').count() === 3, 'three members');

    // Carol leaves; her group is gone from her list.
    await carol.page.getByText('Members and roles').click();
    await carol.page.getByRole('button', { name: 'Leave group' }).click();
    await carol.page.locator('#groups button.open', { hasText: groupName }).waitFor({ state: 'detached' });
    for (const u of [alice, bob, carol]) await u.context.close();
  },

  async 'scrolling up loads older history; the stranger rule shows its reason'(browser) {
    const dave = await newUser(browser, 'dave');
    const erin = await newUser(browser, 'erin');
    await addFriend(dave, erin);
    await addFriend(erin, dave);
    await openChat(dave, erin);
    await openChat(erin, dave);
    const total = 24;
    const texts = [];
    for (let i = 1; i <= total; i += 1) {
      const text = `history message ${String(i).padStart(2, '0')}`;
      texts.push(text);
      // Alternating senders keeps the stranger rule quiet.
      await send(i % 2 ? dave : erin, text);
    }
    await erin.page.reload();
    await erin.page.getByText(`Signed in as ${erin.name}`).waitFor();
    await openChat(erin, dave);
    await message(erin, texts[total - 1]).waitFor();
    const first = await erin.page.locator('#messages li.msg').count();
    check(first < total, `only the newest pages load at first (${first})`);

    const log = erin.page.getByRole('log', { name: 'Messages' });
    const deadline = Date.now() + WAIT_MS;
    while (await message(erin, texts[0]).count() === 0) {
      check(Date.now() < deadline, 'scrolling up never reached the first message');
      await log.evaluate((node) => { node.scrollTop = 0; });
      await erin.page.waitForTimeout(100);
    }
    const shown = await erin.page.locator('#messages li.msg .body').allTextContents();
    check(JSON.stringify(shown) === JSON.stringify(texts), `history in order, once each: ${JSON.stringify(shown)}`);

    // Three messages to someone who has not answered pass; the fourth is refused. Friends
    // write freely by default, so the operator counts them too for this part.
    const rule = await adminApi('GET', '/admin/plugins/stranger-limit/config');
    await adminApi('PUT', '/admin/plugins/stranger-limit/config', { ...rule, exempt_friends: false });
    try {
      const box = dave.page.getByLabel('Message', { exact: true });
      for (let i = 1; i <= 3; i += 1) await send(dave, `unanswered ${i}`);
      await box.fill('unanswered 4');
      await box.press('Enter');
      await dave.page.locator('#messages li.msg.failed', { hasText: 'unanswered 4' })
        .locator('.why', { hasText: 'Refused by a limit: limit reached: wait for a reply / 达到限制' }).waitFor();
      await dave.page.getByRole('alert').filter({ hasText: '达到限制' }).waitFor();
    } finally {
      await adminApi('PUT', '/admin/plugins/stranger-limit/config', rule);
    }
    await dave.context.close();
    await erin.context.close();
  },

  async 'an uploaded image shows inline for the peer, another file as a link'(browser) {
    const alice = await newUser(browser, 'ialice');
    const bob = await newUser(browser, 'ibob');
    await addFriend(alice, bob);
    await addFriend(bob, alice);
    await openChat(alice, bob);
    await openChat(bob, alice);
    const png = await alice.page.screenshot({ clip: { x: 0, y: 0, width: 48, height: 48 } });
    await alice.page.locator('#composer-file').setInputFiles({ name: 'picture.png', mimeType: 'image/png', buffer: png });
    const image = bob.page.locator('#messages li.msg img');
    await image.waitFor();
    check(/^\/upload\/data\/[A-Za-z0-9_-]+\.png$/.test(await image.getAttribute('src')), 'served from /upload/');
    check((await image.getAttribute('alt')) === `Image from ${alice.name}`, 'the image has a text alternative');
    await bob.page.waitForFunction(() => {
      const img = document.querySelector('#messages li.msg img');
      return img && img.complete && img.naturalWidth === 48;
    }, null, { timeout: WAIT_MS });

    await alice.page.locator('#composer-file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('plain notes\n') });
    await bob.page.locator('#messages li.msg a', { hasText: 'File (txt)' }).waitFor();
    await alice.context.close();
    await bob.context.close();
  },

  async 'the operator console switches the word filter and edits its configuration'(browser) {
    const alice = await newUser(browser, 'walice');
    const bob = await newUser(browser, 'wbob');
    await addFriend(alice, bob);
    await addFriend(bob, alice);
    await openChat(alice, bob);
    await openChat(bob, alice);
    const original = await adminApi('GET', '/admin/plugins/word-filter/config');

    const { context, page } = await newPage(browser);
    await page.goto(`${BASE}/admin/`);
    await page.getByLabel('Token').fill('not-the-token');
    await page.getByRole('button', { name: 'Open the console' }).click();
    await page.getByRole('alert').filter({ hasText: 'not the admin token' }).waitFor();
    await page.getByLabel('Token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Open the console' }).click();
    const row = page.locator('#plugins tr[data-plugin="word-filter"]');
    await row.waitFor();

    const setState = async (verb, state) => {
      await page.getByRole('button', { name: `${verb} word-filter` }).click();
      await row.locator('td', { hasText: state }).first().waitFor();
    };
    await setState('Disable', 'disabled');
    await send(alice, 'this is spam');
    await expectOnce(bob, 'this is spam');
    await setState('Enable', 'running');
    // The sender sees what was stored, marked as rewritten.
    await send(bob, 'reply with spam', 'reply with ****');
    await bob.page.locator('#messages li.msg.mine[data-id]', { hasText: 'reply with ****' })
      .locator('.rewritten', { hasText: 'Rewritten by the server' }).waitFor();
    await expectOnce(alice, 'reply with ****');
    await send(alice, 'more spam please', 'more **** please');
    await expectOnce(bob, 'more **** please');

    // The counters move (refreshed every 2 s) and the rewrite is in the verdict log.
    await page.locator('#verdicts tr', { hasText: 'rewritten' }).first().waitFor();
    await page.waitForFunction(() => {
      const cells = document.querySelectorAll('#plugins tr[data-plugin="word-filter"] td.num');
      return cells.length && Number(cells[2].textContent) >= 2;
    }, null, { timeout: WAIT_MS });

    // Configuration: bad JSON and a configuration the plugin refuses are both explained.
    await page.getByRole('button', { name: 'Edit the configuration of word-filter' }).click();
    const text = page.getByLabel('Configuration (a JSON object)');
    await page.waitForFunction(() => document.getElementById('config-text').value.includes('words'));
    await text.fill('{"words": [');
    await page.getByRole('button', { name: 'Save configuration' }).click();
    await page.locator('#config-result', { hasText: 'Not valid JSON' }).waitFor();
    await text.fill('{"mode": "explode"}');
    await page.getByRole('button', { name: 'Save configuration' }).click();
    await page.locator('#config-result', { hasText: 'explode' }).waitFor();
    await text.fill(JSON.stringify({ ...original, mode: 'reject', reason: 'keep it civil' }));
    await page.getByRole('button', { name: 'Save configuration' }).click();
    await page.locator('#config-result', { hasText: 'Saved' }).waitFor();
    await send(bob, 'fine');
    const box = alice.page.getByLabel('Message', { exact: true });
    await box.fill('spam again');
    await box.press('Enter');
    await alice.page.locator('#messages li.msg.failed .why', { hasText: 'keep it civil' }).waitFor();

    // Invite keys.
    await page.getByLabel('How many').fill('2');
    await page.getByRole('button', { name: 'Issue' }).click();
    await page.waitForFunction(() => document.getElementById('invites').textContent.split('\n').length === 2);
    // Every operator action above is in the audit log the console shows.
    await page.locator('#audit tr', { hasText: 'invites.issue' }).first().waitFor();
    await page.locator('#audit tr', { hasText: 'plugin.config' }).first().waitFor();

    await text.fill(JSON.stringify(original));
    await page.getByRole('button', { name: 'Save configuration' }).click();
    await page.locator('#config-result', { hasText: 'Saved' }).waitFor();
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'console.png'), fullPage: true });
    await setState('Disable', 'disabled');
    await send(alice, 'spam is fine now');
    await expectOnce(bob, 'spam is fine now');
    // Leave the server as it was for other tests.
    await adminApi('POST', '/admin/plugins/word-filter/enable');
    for (const c of [context, alice.context, bob.context]) await c.close();
  },

  async 'a page of an allowed origin calls the API and opens a socket; another origin cannot'(browser) {
    if (!PAGE_ORIGIN) {
      console.log('     (skipped: run.sh found no python3 to serve a second origin)');
      return;
    }
    // The same page reached as localhost is another origin, which the server does not list.
    const otherOrigin = PAGE_ORIGIN.replace('127.0.0.1', 'localhost');
    // Blocked requests are the point here, so the browser's CORS messages are expected.
    const context = await browser.newContext();
    context.setDefaultTimeout(WAIT_MS);
    // Every page of this context can open a chat socket and say what came of it.
    await context.addInitScript(() => {
      window.socketCode = (base, token) => new Promise((resolve) => {
        const ws = new WebSocket(`${base.replace('http', 'ws')}/chat/ws?token=${token}`);
        const timer = setTimeout(() => resolve('timeout'), 10000);
        ws.onmessage = (event) => { clearTimeout(timer); ws.close(); resolve(JSON.parse(event.data).code); };
        ws.onerror = () => { clearTimeout(timer); resolve('refused'); };
      });
    });
    const page = await context.newPage();
    const args = { base: BASE, name: uniqueName('cors'), password: PASSWORD };

    await page.goto(`${PAGE_ORIGIN}/`);
    const allowed = await page.evaluate(async ({ base, name, password }) => {
      const registered = await fetch(`${base}/user/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: name, password }),
      }).then((r) => r.json());
      const login = await fetch(`${base}/user/login?username=${encodeURIComponent(name)}&password=${encodeURIComponent(password)}`)
        .then((r) => r.json());
      const token = login.data.aToken;
      // A header of its own makes this a preflighted request.
      const me = await fetch(`${base}/user/me`, { headers: { Authorization: `Bearer ${token}` } });
      return {
        registered: registered.status,
        me: (await me.json()).status,
        requestId: me.headers.get('x-request-id'),
        socket: await window.socketCode(base, token),
        token,
      };
    }, args);
    check(allowed.registered === 200 && allowed.me === 200, `allowed origin: ${JSON.stringify(allowed)}`);
    check(/^[0-9a-f-]{36}$/.test(allowed.requestId || ''), `x-request-id is readable: ${allowed.requestId}`);
    check(allowed.socket === 50002, `a socket from the allowed origin opens: ${allowed.socket}`);

    await page.goto(`${otherOrigin}/`);
    const refused = await page.evaluate(async ({ base, token }) => {
      let fetched = 'answered';
      try {
        await fetch(`${base}/user/me`, { headers: { Authorization: `Bearer ${token}` } });
      } catch (error) {
        fetched = 'blocked';
      }
      return { fetched, socket: await window.socketCode(base, token) };
    }, { ...args, token: allowed.token });
    check(refused.fetched === 'blocked', `the browser blocks another origin's request: ${refused.fetched}`);
    check(refused.socket === 'refused', `a socket from another origin is refused: ${refused.socket}`);
    await context.close();
  },

  async 'every control is labelled and reachable by keyboard'(browser) {
    const { context, page } = await newPage(browser);
    await page.goto(`${BASE}/`);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
    check(['auth-username', 'auth-password', 'logout'].includes(focused) || focused, 'focus moves into the form');
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, textarea, select')]
      .filter((node) => !node.labels || node.labels.length === 0).map((node) => node.id));
    check(unlabelled.length === 0, `unlabelled controls: ${unlabelled}`);
    await context.close();
  },
};

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = 0;
for (const [name, test] of Object.entries(tests)) {
  if (ONLY && !name.includes(ONLY)) continue;
  pageErrors.length = 0;
  const started = Date.now();
  try {
    await test(browser);
    check(pageErrors.length === 0, `errors in the page: ${pageErrors.join('; ')}`);
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}\n     ${String(error.stack || error).split('\n').slice(0, 6).join('\n     ')}`);
  }
}
await browser.close();
console.log(failed ? `${failed} browser test(s) failed` : 'all browser tests passed');
process.exit(failed ? 1 : 0);
