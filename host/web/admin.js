// The operator console: plugins with their live counters, their configuration, uploads,
// invite keys, the verdict log and the audit log, all through the /admin/ API and its bearer
// token. The name the operator gives goes with every request as X-Operator, for the audit log.
//
// The table is updated in place every two seconds rather than rebuilt, so a button that
// has keyboard focus keeps it while the counters move.

import { ApiError, announce, el, request } from './api.js';

const TOKEN_KEY = 'confab.admin.token';
const OPERATOR_KEY = 'confab.admin.operator';
const REFRESH_MS = 2000;

const $ = (id) => document.getElementById(id);
const ui = {
  tokenView: $('token-view'), tokenForm: $('token-form'), token: $('token'),
  console: $('console-view'), forget: $('forget'), error: $('error'), status: $('status'),
  updated: $('updated'), plugins: $('plugins'), verdicts: $('verdicts'), audit: $('audit'),
  operator: $('operator'),
  configForm: $('config-form'), configPlugin: $('config-plugin'), configText: $('config-text'),
  configResult: $('config-result'), configLoad: $('config-load'),
  uploadForm: $('upload-form'), uploadResult: $('upload-result'),
  inviteForm: $('invite-form'), invites: $('invites'),
};

let timer = null;
const rows = new Map();

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

async function admin(method, path, body) {
  try {
    const name = sessionStorage.getItem(OPERATOR_KEY) || '';
    // Header values travel as bytes: a name outside ASCII is sent as UTF-8 by encoding it.
    const headers = name ? { 'X-Operator': unescape(encodeURIComponent(name)) } : {};
    return await request(method, path, { token: token(), body, headers });
  } catch (error) {
    if (error instanceof ApiError && (error.code === 30001 || error.code === 30002)) {
      lock('That is not the admin token.');
    }
    throw error;
  }
}

function showError(text) {
  announce(ui.error, text);
}

function lock(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(timer);
  timer = null;
  ui.console.hidden = true;
  ui.forget.hidden = true;
  ui.tokenView.hidden = false;
  if (message) showError(message);
  ui.token.focus();
}

async function unlock() {
  try {
    await refresh();
  } catch (error) {
    if (!ui.console.hidden || token()) showError(error.message);
    return;
  }
  showError('');
  ui.tokenView.hidden = true;
  ui.console.hidden = false;
  ui.forget.hidden = false;
  clearInterval(timer);
  timer = setInterval(() => refresh().catch((error) => showError(error.message)), REFRESH_MS);
}

async function refresh() {
  const [plugins, verdicts, audit] = await Promise.all([
    admin('GET', '/admin/plugins'),
    admin('GET', '/admin/verdicts?limit=50'),
    admin('GET', '/admin/audit?limit=50'),
  ]);
  renderPlugins(plugins);
  renderVerdicts(verdicts);
  renderAudit(audit);
  ui.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

const COUNTERS = ['calls', 'rejects', 'rewrites', 'errors', 'timeouts', 'p50_us', 'p99_us'];

function renderPlugins(plugins) {
  const seen = new Set();
  for (const p of plugins) {
    seen.add(p.name);
    let row = rows.get(p.name);
    if (!row) {
      row = pluginRow(p.name);
      rows.set(p.name, row);
    }
    const c = row.cells;
    c.state.textContent = p.state + (p.error ? ` — ${p.error}` : '');
    c.state.className = `state-${p.state}`;
    c.version.textContent = p.version;
    c.hooks.textContent = p.hooks.join(', ');
    renderNodes(c.nodes, p);
    for (const key of COUNTERS) {
      const value = p.counters[key];
      c[key].textContent = value === null || value === undefined ? '–' : String(value);
    }
    row.enable.disabled = p.enabled;
    row.disable.disabled = !p.enabled;
    // Appending moves a row, which would take focus from its buttons: only new rows.
    if (!row.tr.isConnected) ui.plugins.append(row.tr);
  }
  for (const [name, row] of rows) {
    if (!seen.has(name)) {
      row.tr.remove();
      rows.delete(name);
    }
  }
  const chosen = ui.configPlugin.value;
  const names = [...seen].sort();
  if ([...ui.configPlugin.options].map((o) => o.value).join() !== names.join()) {
    ui.configPlugin.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
    if (names.includes(chosen)) ui.configPlugin.value = chosen;
    if (!ui.configText.value) loadConfig();
  }
}

function pluginRow(name) {
  const cell = (cls) => el('td', cls ? { class: cls } : {});
  const cells = {
    name: el('th', { scope: 'row' }, name), state: cell(), version: cell(), hooks: cell(), nodes: cell(),
  };
  for (const key of COUNTERS) cells[key] = cell('num');
  const action = (label, verb) => el('button', {
    type: 'button', class: 'small secondary', dataset: { action: verb, plugin: name },
    'aria-label': `${label} ${name}`, onclick: () => act(name, verb),
  }, label);
  const enable = action('Enable', 'enable');
  const disable = action('Disable', 'disable');
  const reload = action('Reload', 'reload');
  const edit = el('button', {
    type: 'button', class: 'small secondary', 'aria-label': `Edit the configuration of ${name}`,
    onclick: () => {
      ui.configPlugin.value = name;
      loadConfig().then(() => ui.configText.focus());
    },
  }, 'Configure');
  const tr = el('tr', { dataset: { plugin: name } },
    cells.name, cells.state, cells.version, cells.hooks, cells.nodes,
    ...COUNTERS.map((k) => cells[k]),
    el('td', {}, el('div', { class: 'row' }, enable, disable, reload, edit)));
  return { tr, cells, enable, disable };
}

// In a cluster, the revision each node runs, so a node that could not load the newest one
// (and says why) stands out; a single node has no list.
function renderNodes(cell, p) {
  if (!p.nodes || !p.nodes.length) {
    cell.textContent = '–';
    return;
  }
  cell.replaceChildren(...p.nodes.map((n) => {
    const behind = n.revision !== p.revision ? ` (newest: ${p.revision})` : '';
    const text = `${n.node}${n.here ? ' (this node)' : ''}: revision ${n.revision}${behind}, `
      + `${n.state}${n.live ? '' : ', silent'}${n.error ? ` — ${n.error}` : ''}`;
    return el('div', { class: `state-${n.error ? 'failed' : n.state}` }, text);
  }));
}

async function act(name, verb) {
  showError('');
  try {
    const view = await admin('POST', `/admin/plugins/${encodeURIComponent(name)}/${verb}`);
    announce(ui.status, `${name} is now ${view.state}.`);
    await refresh();
  } catch (error) {
    showError(`${name}: ${error.message}`);
  }
}

function renderVerdicts(verdicts) {
  ui.verdicts.replaceChildren(...verdicts.map((v) => el('tr', {},
    el('td', {}, new Date(v.at).toLocaleTimeString()), el('td', {}, v.node || ''),
    el('td', {}, v.plugin), el('td', {}, v.hook), el('td', {}, v.outcome),
    el('td', { class: 'num' }, String(v.user)), el('td', {}, v.detail), el('td', {}, v.subject))));
  if (!verdicts.length) ui.verdicts.append(el('tr', {}, el('td', { colspan: 8, class: 'muted' }, 'No verdicts yet.')));
}

function renderAudit(entries) {
  ui.audit.replaceChildren(...entries.map((e) => el('tr', {},
    el('td', {}, new Date(e.at).toLocaleString()), el('td', {}, e.action), el('td', {}, e.target),
    el('td', {}, e.actor || '–'), el('td', {}, e.address),
    el('td', {}, el('code', {}, JSON.stringify(e.details))))));
  if (!entries.length) ui.audit.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No operator action yet.')));
}

async function loadConfig() {
  const name = ui.configPlugin.value;
  if (!name) return;
  announce(ui.configResult, '');
  try {
    const config = await admin('GET', `/admin/plugins/${encodeURIComponent(name)}/config`);
    ui.configText.value = JSON.stringify(config, null, 2);
  } catch (error) {
    announce(ui.configResult, error.message);
  }
}

async function saveConfig(event) {
  event.preventDefault();
  const name = ui.configPlugin.value;
  let parsed;
  try {
    parsed = JSON.parse(ui.configText.value);
  } catch (error) {
    announce(ui.configResult, `Not valid JSON: ${error.message}`);
    ui.configText.setAttribute('aria-invalid', 'true');
    return;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    announce(ui.configResult, 'The configuration must be a JSON object.');
    ui.configText.setAttribute('aria-invalid', 'true');
    return;
  }
  try {
    await admin('PUT', `/admin/plugins/${encodeURIComponent(name)}/config`, JSON.stringify(parsed));
    ui.configText.removeAttribute('aria-invalid');
    announce(ui.configResult, `Saved; ${name} uses the new configuration now.`);
  } catch (error) {
    ui.configText.setAttribute('aria-invalid', 'true');
    announce(ui.configResult, error.message);
  }
}

async function upload(event) {
  event.preventDefault();
  const manifest = $('upload-manifest').files[0];
  const wasm = $('upload-wasm').files[0];
  if (!manifest || !wasm) {
    announce(ui.uploadResult, 'Choose both the manifest and the component.');
    return;
  }
  const form = new FormData();
  form.append('manifest', manifest);
  form.append('wasm', wasm);
  announce(ui.uploadResult, 'Uploading and checking…');
  try {
    const view = await admin('POST', '/admin/plugins', form);
    announce(ui.uploadResult, `Installed ${view.name} ${view.version}: ${view.state}.`);
    ui.uploadForm.reset();
    await refresh();
  } catch (error) {
    announce(ui.uploadResult, error.message);
  }
}

async function invite(event) {
  event.preventDefault();
  try {
    const keys = await admin('POST', '/admin/invites', { count: $('invite-count').value });
    ui.invites.textContent = keys.join('\n');
    ui.invites.hidden = false;
  } catch (error) {
    showError(error.message);
  }
}

ui.tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, ui.token.value.trim());
  sessionStorage.setItem(OPERATOR_KEY, ui.operator.value.trim());
  ui.token.value = '';
  unlock();
});
ui.forget.addEventListener('click', () => lock(''));
ui.configForm.addEventListener('submit', saveConfig);
ui.configLoad.addEventListener('click', loadConfig);
ui.configPlugin.addEventListener('change', loadConfig);
ui.uploadForm.addEventListener('submit', upload);
ui.inviteForm.addEventListener('submit', invite);

if (token()) unlock(); else lock('');
