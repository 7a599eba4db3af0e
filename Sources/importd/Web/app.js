// The Import Contacts and Import Status screens. Plain JavaScript, no build
// step: it calls the import service over the Connect protocol (JSON) on the
// same origin. Every value from the server is put on the page as text
// (textContent), never as HTML.
'use strict';

const SERVICE = '/softrip.marketing.imports.v1.ImportService/';
const UPLOADS = '/web/v1/uploads';
const CHUNK = 1 << 20; // bytes per upload request
const TOKEN_KEY = 'importd.token';

const $ = (id) => document.getElementById(id);

/** An error from the service: its Connect code, message and details. */
class ApiError extends Error {
  constructor(code, message, details) {
    super(message || code);
    this.code = code;
    this.details = details || [];
  }
  /** The header problems of a refused file: [{field, description}]. */
  get violations() {
    const out = [];
    for (const d of this.details) {
      if (d.debug && Array.isArray(d.debug.fieldViolations)) out.push(...d.debug.fieldViolations);
    }
    return out;
  }
}

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  scope: '',
  imports: new Map(),
  campaigns: new Map(),
  subscriptions: new Map(),
  stream: null, // the AbortController of the open watch
  detail: null, // {id, job, rowsTokens: [], rowsPage}
};

// ---------------------------------------------------------------- the API

function headers(extra) {
  return Object.assign({ Authorization: 'Bearer ' + state.token, 'Connect-Protocol-Version': '1' }, extra || {});
}

async function errorFrom(response) {
  let body = {};
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  return new ApiError(body.code || 'unknown', body.message || response.status + ' ' + response.statusText, body.details);
}

function noteScope(response) {
  const scope = response.headers.get('importd-token-scope');
  if (scope && scope !== state.scope) {
    state.scope = scope;
    $('scope-label').textContent = scope + ' token';
    if (state.detail && state.detail.job) renderActions(state.detail.job);
  }
}

/** A unary call: JSON in, JSON out. */
async function call(method, request) {
  const response = await fetch(SERVICE + method, {
    method: 'POST', headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(request || {}),
  });
  if (!response.ok) throw await errorFrom(response);
  noteScope(response);
  return response.json();
}

/** A server-streaming call: calls onMessage for each message; resolves at the end of the stream. */
async function stream(method, request, signal, onOpen, onMessage) {
  const payload = new TextEncoder().encode(JSON.stringify(request || {}));
  const body = new Uint8Array(5 + payload.length);
  new DataView(body.buffer).setUint32(1, payload.length);
  body.set(payload, 5);
  const response = await fetch(SERVICE + method, {
    method: 'POST', headers: headers({ 'Content-Type': 'application/connect+json' }), body, signal,
  });
  if (!response.ok) throw await errorFrom(response);
  noteScope(response);
  if (onOpen) onOpen();
  const reader = response.body.getReader();
  let buffer = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    buffer = joined;
    while (buffer.length >= 5) {
      const length = new DataView(buffer.buffer, buffer.byteOffset).getUint32(1);
      if (buffer.length < 5 + length) break;
      const flags = buffer[0];
      const message = JSON.parse(new TextDecoder().decode(buffer.subarray(5, 5 + length)));
      buffer = buffer.slice(5 + length);
      if (flags & 2) {
        if (message.error) throw new ApiError(message.error.code, message.error.message, message.error.details);
        return;
      }
      onMessage(message);
    }
  }
  throw new ApiError('unavailable', 'the stream ended without a status');
}

function saveBlob(bytes, name, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function base64Bytes(text) {
  const binary = atob(text || '');
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------- small DOM helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'className') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function showMessage(node, text, ok, items) {
  node.replaceChildren();
  node.classList.toggle('ok', !!ok);
  if (!text) return;
  node.append(document.createTextNode(text));
  if (items && items.length) node.append(el('ul', {}, ...items.map((item) => el('li', { text: item }))));
}

const STATE_NAMES = {
  IMPORT_STATE_QUEUED: 'QUEUED', IMPORT_STATE_RUNNING: 'RUNNING', IMPORT_STATE_PAUSED: 'PAUSED', IMPORT_STATE_COMPLETED: 'COMPLETED',
  IMPORT_STATE_FAILED: 'FAILED', IMPORT_STATE_CANCELLED: 'CANCELLED', IMPORT_STATE_REVERTED: 'REVERTED',
};
const stateName = (job) => STATE_NAMES[job.state] || 'UNKNOWN';
const num = (v) => Number(v || 0);
const fmt = (v) => num(v).toLocaleString('en-US');
const when = (t) => (t ? new Date(t).toLocaleString() : '—');

function progressOf(job) {
  const total = num(job.totalRows);
  const done = num(job.processedRows);
  const finished = ['COMPLETED', 'REVERTED'].includes(stateName(job));
  return { value: finished ? 1 : total ? Math.min(1, done / total) : 0, text: finished ? '100%' : total ? Math.floor((100 * done) / total) + '%' : '0%' };
}

function stateBadge(job) {
  return el('span', { className: 'state ' + stateName(job), text: stateName(job) });
}

// ---------------------------------------------------------------- routing

const VIEWS = ['signin', 'import', 'status', 'detail', 'contact'];

function show(view) {
  for (const name of VIEWS) $('view-' + name).hidden = name !== view;
  $('nav').hidden = view === 'signin';
  $('who').hidden = view === 'signin';
  const current = (link, on) => (on ? link.setAttribute('aria-current', 'page') : link.removeAttribute('aria-current'));
  current($('nav-import'), view === 'import');
  current($('nav-status'), view === 'status' || view === 'detail');
  $('main').focus({ preventScroll: true });
}

function route() {
  if (state.stream) { state.stream.abort(); state.stream = null; }
  if (!state.token) { show('signin'); $('token').focus(); return; }
  const hash = location.hash || '#/status';
  let match;
  if (hash === '#/import') { show('import'); loadImportForm(); }
  else if ((match = hash.match(/^#\/imports\/([\w-]+)$/))) { show('detail'); openDetail(match[1]); }
  else if ((match = hash.match(/^#\/contacts\/([\w-]+)$/))) { show('contact'); openContact(match[1]); }
  else { show('status'); openStatus(); }
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  state.scope = '';
  showMessage($('signin-message'), reason || '');
  location.hash = '#/status';
  route();
}

/** Handles an error from any screen: a token that stopped working signs out. */
function handle(error, node) {
  if (error.name === 'AbortError') return;
  if (error.code === 'unauthenticated') { signOut('Your token was refused: ' + error.message); return; }
  if (!node) return;
  showMessage(node, error.message, false, (error.violations || []).map((v) => (v.field ? v.field + ': ' : '') + v.description));
}

// ---------------------------------------------------------------- sign in

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) { showMessage($('signin-message'), 'Paste a token first.'); return; }
  state.token = token;
  try {
    await call('ListImports', { pageSize: 1 });
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token').value = '';
    showMessage($('signin-message'), '');
    if (!location.hash || location.hash === '#/status') route(); else location.hash = '#/status';
  } catch (error) {
    state.token = '';
    showMessage($('signin-message'), error.code === 'unauthenticated' ? 'That token is not valid (unknown or revoked).' : error.message);
  }
});
$('sign-out').addEventListener('click', () => signOut());

// ---------------------------------------------------------------- import form

let templateLoaded = false;

async function loadTags() {
  const [campaigns, subscriptions] = await Promise.all([call('ListCampaigns', { pageSize: 500 }), call('ListSubscriptions', { pageSize: 500 })]);
  state.campaigns = new Map((campaigns.campaigns || []).map((c) => [c.id, c]));
  state.subscriptions = new Map((subscriptions.subscriptions || []).map((s) => [s.id, s]));
}

async function loadImportForm() {
  try {
    await loadTags();
    const select = $('campaign');
    const chosen = select.value;
    select.replaceChildren(el('option', { value: '', text: '(none)' }),
      ...[...state.campaigns.values()].map((c) => el('option', { value: c.id, text: c.name + (c.code ? ' (' + c.code + ')' : '') })));
    select.value = chosen;
    const box = $('subscriptions');
    const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
    box.replaceChildren(...(state.subscriptions.size ? [...state.subscriptions.values()].map((s) =>
      el('label', { className: 'inline' }, el('input', { type: 'checkbox', name: 'subscription', value: s.id, checked: checked.has(s.id) }), ' ' + s.name))
      : [el('span', { className: 'muted', text: 'none defined' })]));
    if (!templateLoaded) {
      const template = await call('GetImportTemplate', {});
      $('template-fields').replaceChildren(...(template.fields || []).map((f) =>
        el('li', {}, el('code', { text: f.name }), f.required ? el('span', { className: 'req', text: ' required' }) : null)));
      templateLoaded = true;
    }
  } catch (error) {
    handle(error, $('upload-message'));
  }
}

$('download-template').addEventListener('click', async () => {
  try {
    const template = await call('GetImportTemplate', {});
    saveBlob(base64Bytes(template.csv), 'contacts-template.csv', 'text/csv');
  } catch (error) {
    handle(error, $('upload-message'));
  }
});

async function uploadRequest(url, init) {
  const response = await fetch(url, Object.assign({ headers: headers(init.contentType ? { 'Content-Type': init.contentType } : {}) }, init));
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

$('upload-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const message = $('upload-message');
  const file = $('file').files[0];
  if (!file) { showMessage(message, 'Choose a CSV file first.'); $('file').focus(); return; }
  const options = {
    fileName: file.name,
    kind: document.querySelector('input[name=kind]:checked').value,
    onDuplicate: document.querySelector('input[name=dup]:checked').value,
    originCampaignId: $('campaign').value,
    subscriptionIds: [...document.querySelectorAll('#subscriptions input:checked')].map((i) => i.value),
    validateOnly: $('dry-run').checked,
  };
  const button = $('upload-button');
  button.disabled = true;
  showMessage(message, '');
  $('upload-progress').hidden = false;
  $('upload-bar').value = 0;
  $('upload-text').textContent = '0%';
  let session = null;
  try {
    session = (await uploadRequest(UPLOADS, { method: 'POST', contentType: 'application/json', body: JSON.stringify(options) })).uploadId;
    for (let offset = 0; offset < file.size; offset += CHUNK) {
      const piece = file.slice(offset, offset + CHUNK);
      await uploadRequest(UPLOADS + '/' + session, { method: 'PUT', contentType: 'application/octet-stream', body: piece });
      const sent = Math.min(file.size, offset + CHUNK);
      $('upload-bar').value = sent / file.size;
      $('upload-text').textContent = Math.floor((100 * sent) / file.size) + '% (' + fmt(sent) + ' of ' + fmt(file.size) + ' bytes)';
    }
    const job = await uploadRequest(UPLOADS + '/' + session + '/finish', { method: 'POST' });
    session = null;
    $('upload-bar').value = 1;
    $('upload-text').textContent = '100%';
    showMessage(message, '');
    message.classList.add('ok');
    message.append('Uploaded: ' + fmt(job.totalRows) + ' rows, queued as ' + job.id + '. ',
      el('a', { href: '#/imports/' + job.id, text: 'Follow its progress' }));
    $('upload-form').reset();
  } catch (error) {
    if (session) fetch(UPLOADS + '/' + session, { method: 'DELETE', headers: headers() }).catch(() => {});
    $('upload-progress').hidden = true;
    if (error.violations && error.violations.length) {
      showMessage(message, 'The file was refused; nothing was imported. Fix its header row:', false,
        error.violations.map((v) => (v.field ? v.field + ': ' : '') + v.description));
    } else {
      handle(error, message);
    }
  } finally {
    button.disabled = false;
  }
});

// ---------------------------------------------------------------- status list (live)

function importRow(job) {
  const p = progressOf(job);
  return el('tr', { id: 'row-' + job.id, 'data-state': stateName(job) },
    el('td', {}, el('a', { href: '#/imports/' + job.id, text: job.id })),
    el('td', { text: job.fileName || '' }),
    el('td', {}, stateBadge(job)),
    el('td', {}, el('progress', { max: 1, value: p.value, 'aria-label': 'Progress of ' + job.id }), ' ', el('span', { className: 'percent', text: p.text })),
    el('td', { text: fmt(job.created) }),
    el('td', { text: fmt(job.failed) }));
}

function renderImports() {
  const jobs = [...state.imports.values()].sort((a, b) => (b.createdAt || '').localeCompare(a.createdAt || '') || b.id.localeCompare(a.id));
  $('imports-body').replaceChildren(...jobs.map(importRow));
  $('imports-empty').hidden = jobs.length > 0;
}

function setLive(node, on, text) {
  node.className = 'live ' + (on ? 'on' : 'off');
  node.textContent = text;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps one watch open while the screen shows, reconnecting after a restart.
 *  `finished()` says when a stream that ended normally has nothing more to tell. */
async function watchLoop(controller, node, load, method, request, onMessage, finished) {
  let delay = 500;
  while (!controller.signal.aborted) {
    try {
      await load();
      await stream(method, request, controller.signal, () => { delay = 500; setLive(node, true, 'Live: updates appear as they happen.'); }, onMessage);
      if (finished && finished()) { setLive(node, true, 'This import has finished.'); return; }
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error.code === 'unauthenticated') { handle(error); return; }
      if (error.code === 'not_found' || error.code === 'permission_denied') { setLive(node, false, error.message); return; }
    }
    if (controller.signal.aborted) return;
    setLive(node, false, 'Reconnecting…');
    await sleep(delay);
    delay = Math.min(delay * 2, 8000);
  }
}

function openStatus() {
  const controller = new AbortController();
  state.stream = controller;
  setLive($('live'), false, 'Connecting…');
  watchLoop(controller, $('live'), async () => {
    const page = await call('ListImports', { pageSize: 200 });
    state.imports = new Map((page.imports || []).map((j) => [j.id, j]));
    renderImports();
  }, 'WatchImports', {}, (job) => {
    state.imports.set(job.id, job);
    const row = $('row-' + job.id);
    if (row) row.replaceWith(importRow(job)); else renderImports();
  });
}

// ---------------------------------------------------------------- one import

const COUNTS = [['totalRows', 'Rows'], ['processedRows', 'Processed'], ['created', 'Created'], ['updated', 'Updated'], ['skipped', 'Skipped'], ['failed', 'Failed']];

function renderDetail(job) {
  state.detail.job = job;
  $('detail-title').textContent = 'Import ' + job.id + (job.fileName ? ' — ' + job.fileName : '');
  $('detail-state').className = 'state ' + stateName(job);
  $('detail-state').textContent = stateName(job);
  const p = progressOf(job);
  $('detail-bar').value = p.value;
  $('detail-percent').textContent = p.text;
  const items = COUNTS.map(([key, label]) => el('div', {}, el('dt', { text: label }), el('dd', { id: 'count-' + key, text: fmt(job[key]) })));
  items.push(el('div', {}, el('dt', { text: 'Next run' }), el('dd', { text: stateName(job) === 'QUEUED' ? when(job.nextRunAt) : '—' })));
  if (job.validateOnly) items.push(el('div', {}, el('dt', { text: 'Mode' }), el('dd', { text: 'Dry run' })));
  if (job.originCampaignId) items.push(el('div', {}, el('dt', { text: 'Campaign' }), el('dd', { text: campaignName(job.originCampaignId) })));
  if (job.error) items.push(el('div', {}, el('dt', { text: 'Error' }), el('dd', { text: job.error })));
  $('detail-counts').replaceChildren(...items);
  renderActions(job);
}

const ACTIONS = [
  ['PauseImport', 'Pause', ['QUEUED', 'RUNNING']],
  ['ResumeImport', 'Resume', ['PAUSED']],
  ['CancelImport', 'Cancel', ['QUEUED', 'RUNNING', 'PAUSED']],
  ['RevertImport', 'Revert', ['COMPLETED', 'CANCELLED']],
];

function renderActions(job) {
  const canWrite = state.scope === 'write' || state.scope === 'admin';
  const buttons = canWrite ? ACTIONS.filter(([, , states]) => states.includes(stateName(job))).map(([method, label]) =>
    el('button', { type: 'button', className: method === 'PauseImport' || method === 'ResumeImport' ? '' : 'danger', text: label, onclick: async () => {
      if ((method === 'CancelImport' || method === 'RevertImport') && !confirm(label + ' import ' + job.id + '?')) return;
      try {
        renderDetail(await call(method, { importId: job.id }));
        showMessage($('detail-message'), '');
      } catch (error) { handle(error, $('detail-message')); }
    } })) : [];
  $('detail-actions').replaceChildren(...buttons);
}

function campaignName(id) {
  const c = state.campaigns.get(id);
  return c ? c.name + ' (' + id + ')' : id;
}

async function loadSummaries(id) {
  for (const [groupBy, table] of [['GROUP_BY_ERROR_CODE', 'by-code'], ['GROUP_BY_COLUMN', 'by-column']]) {
    const summary = await call('SummarizeImport', { importId: id, groupBy });
    const groups = summary.groups || [];
    const max = Math.max(1, ...groups.map((g) => num(g.count)));
    $(table).tBodies[0].replaceChildren(...(groups.length ? groups.map((g) => el('tr', {},
      el('th', { scope: 'row', text: g.key || '(none)' }), el('td', { text: fmt(g.count) }),
      el('td', {}, el('progress', { max, value: num(g.count), 'aria-label': (g.key || '(none)') + ': ' + fmt(g.count) }))))
      : [el('tr', {}, el('td', { className: 'muted', text: 'No errors.' }))]));
  }
}

async function loadRows() {
  const d = state.detail;
  const page = await call('ListImportRows', { importId: d.id, outcome: $('rows-outcome').value || undefined, pageSize: 20, pageToken: d.rowsTokens[d.rowsPage] || '' });
  const header = page.header || [];
  $('rows-table').tHead.replaceChildren(el('tr', {}, el('th', { scope: 'col', text: 'Row' }), el('th', { scope: 'col', text: 'Outcome' }),
    el('th', { scope: 'col', text: 'Errors' }), el('th', { scope: 'col', text: 'Contact' }), ...header.map((h) => el('th', { scope: 'col', text: h }))));
  $('rows-table').tBodies[0].replaceChildren(...(page.rows || []).map((row) => el('tr', {},
    el('td', { text: row.rowNumber }),
    el('td', { text: (row.outcome || '').replace('ROW_OUTCOME_', '') }),
    el('td', { className: 'errors' }, ...(row.errors || []).map((e) => el('div', { text: e.code + (e.column ? ' [' + e.column + ']' : '') + ': ' + e.message }))),
    el('td', {}, row.contactId ? el('a', { href: '#/contacts/' + row.contactId, text: row.contactId }) : ''),
    ...header.map((_, i) => el('td', { text: (row.values || [])[i] || '' })))));
  if (!(page.rows || []).length) $('rows-table').tBodies[0].append(el('tr', {}, el('td', { className: 'muted', text: 'No rows.' })));
  d.rowsTokens[d.rowsPage + 1] = page.nextPageToken || '';
  $('rows-prev').disabled = d.rowsPage === 0;
  $('rows-next').disabled = !page.nextPageToken;
  $('rows-page').textContent = 'Page ' + (d.rowsPage + 1);
}

$('rows-outcome').addEventListener('change', () => { state.detail.rowsTokens = ['']; state.detail.rowsPage = 0; loadRows().catch((e) => handle(e, $('detail-message'))); });
$('rows-next').addEventListener('click', () => { state.detail.rowsPage++; loadRows().catch((e) => handle(e, $('detail-message'))); });
$('rows-prev').addEventListener('click', () => { state.detail.rowsPage = Math.max(0, state.detail.rowsPage - 1); loadRows().catch((e) => handle(e, $('detail-message'))); });

$('download-errors').addEventListener('click', async () => {
  const id = state.detail.id;
  const parts = [];
  try {
    await stream('ExportImportErrors', { importId: id }, undefined, null, (chunk) => parts.push(base64Bytes(chunk.data)));
    saveBlob(new Blob(parts), id + '-errors.csv', 'text/csv');
  } catch (error) { handle(error, $('detail-message')); }
});

function openDetail(id) {
  state.detail = { id, job: null, rowsTokens: [''], rowsPage: 0 };
  showMessage($('detail-message'), '');
  $('detail-title').textContent = 'Import ' + id;
  $('detail-counts').replaceChildren();
  $('detail-actions').replaceChildren();
  const controller = new AbortController();
  state.stream = controller;
  let lastState = null;
  let summaryTimer = null;
  const refreshLater = () => {
    // Counts move every batch; the grouped errors and rows follow at most once a second.
    if (summaryTimer) return;
    summaryTimer = setTimeout(() => { summaryTimer = null; loadSummaries(id).catch(() => {}); }, 1000);
  };
  setLive($('detail-live'), false, 'Connecting…');
  loadTags().catch(() => {});
  watchLoop(controller, $('detail-live'), async () => {
    renderDetail(await call('GetImport', { importId: id }));
    await loadSummaries(id);
    await loadRows();
  }, 'WatchImport', { importId: id }, (job) => {
    if (state.detail.id !== id) return;
    renderDetail(job);
    const terminal = ['COMPLETED', 'FAILED', 'CANCELLED', 'REVERTED'].includes(stateName(job));
    if (terminal) loadSummaries(id).catch(() => {}); else refreshLater();
    if (lastState && lastState !== job.state) loadRows().catch(() => {});
    lastState = job.state;
  }, () => state.detail.id === id && state.detail.job && ['COMPLETED', 'FAILED', 'CANCELLED', 'REVERTED'].includes(stateName(state.detail.job)));
}

// ---------------------------------------------------------------- a contact

const PROFILE = [['kind', 'Kind'], ['externalId', 'External id'], ['title', 'Title'], ['firstName', 'First name'], ['lastName', 'Last name'],
  ['email', 'Email'], ['phone', 'Phone'], ['mobile', 'Mobile'], ['address1', 'Address'], ['address2', 'Address 2'], ['city', 'City'],
  ['state', 'State'], ['postalCode', 'Postal code'], ['country', 'Country'], ['birthDate', 'Birth date'], ['gender', 'Gender'],
  ['company', 'Company'], ['notes', 'Notes']];

async function openContact(id) {
  $('contact-title').textContent = 'Contact ' + id;
  $('contact-fields').replaceChildren();
  showMessage($('contact-message'), '');
  try {
    const [contact] = await Promise.all([call('GetContact', { contactId: id }), loadTags()]);
    const name = [contact.firstName, contact.lastName].filter(Boolean).join(' ');
    $('contact-title').textContent = name ? name + ' (' + id + ')' : 'Contact ' + id;
    const items = [];
    const add = (label, ...value) => items.push(el('dt', { text: label }), el('dd', {}, ...value));
    for (const [key, label] of PROFILE) {
      if (!contact[key]) continue;
      add(label, key === 'kind' ? contact.kind.replace('CONTACT_KIND_', '').toLowerCase() : contact[key]);
    }
    add('Origin campaign', contact.originCampaignId ? campaignName(contact.originCampaignId) : '—');
    const subs = (contact.subscriptionIds || []).map((s) => (state.subscriptions.get(s) || { name: s }).name);
    add('Subscriptions', subs.length ? subs.join(', ') : '—');
    const importLink = (importId) => (importId ? el('a', { href: '#/imports/' + importId, text: importId }) : '—');
    add('Created by import', importLink(contact.createdByImportId));
    add('Last updated by import', importLink(contact.updatedByImportId));
    add('Created', when(contact.createdAt));
    add('Updated', when(contact.updatedAt));
    $('contact-fields').replaceChildren(...items);
  } catch (error) {
    handle(error, $('contact-message'));
  }
}

// ---------------------------------------------------------------- start

window.addEventListener('hashchange', route);
route();
