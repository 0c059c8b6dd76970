// wasmjob's dashboard: hash routes, each a function that reads the APIs
// and draws the page; the page draws again when a watch of what it shows
// says something changed. Text goes in as text (never as HTML).
'use strict';

const page = document.getElementById('page');
// Changes carry this header: the server refuses a change made with the
// session cookie alone (another site could make the browser send that).
const CHANGE = { 'X-Wasmjob-Dashboard': '1' };

// ---- reading and changing -------------------------------------------------

async function answer(response) {
  if (response.status === 401) {
    location.reload();
    throw new Error('signed out');
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try { const body = JSON.parse(text); message = body.message || body.error || text; } catch (_) {}
    throw new Error(message);
  }
  return text ? JSON.parse(text) : null;
}

// Reads made for a page that is no longer shown end with STALE, so that a
// drawing still waiting on one when another page was chosen never draws
// over it.
let routed = 0;
const STALE = new Error('the page changed');
const unlessStale = (e) => { if (e === STALE) throw e; };
function get(path) {
  const seq = routed;
  return fetch(path, { credentials: 'same-origin' }).then(answer).then((value) => {
    if (seq !== routed) throw STALE;
    return value;
  });
}

function change(method, path, body, type) {
  const headers = Object.assign({ 'Content-Type': type || 'application/json' }, CHANGE);
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(path, init).then(answer);
}

const ns = (o) => o.metadata.namespace || 'default';
const items = (list) => (list && list.items) || [];

// Reads go to the Kubernetes API kubectl uses, instances in wasmjob's own
// shape (wasmjob.dev/v1) rather than as Pods.
const GROUPS = {
  jobs: '/apis/batch/v1', cronjobs: '/apis/batch/v1', daemonsets: '/apis/apps/v1',
  instances: '/apis/wasmjob.dev/v1', nodes: '/api/v1', events: '/api/v1',
};
function path(plural, namespace, name) {
  const where = plural === 'nodes' ? null : namespace || scope;
  const within = where ? `/namespaces/${encodeURIComponent(where)}` : '';
  return `${GROUPS[plural]}${within}/${plural}` + (name ? `/${encodeURIComponent(name)}` : '');
}
const list = (plural, namespace, query) =>
  get(path(plural, namespace) + (query ? '?' + new URLSearchParams(query) : ''));
// One object, as a list of it (or of none, if there is none).
const one = (plural, namespace, name) =>
  get(path(plural, namespace, name)).then((o) => ({ items: [o] }), (e) => (unlessStale(e), { items: [] }));

// ---- who is signed in ---------------------------------------------------

// The admin sees every namespace. A ServiceAccount whose grants do not
// list Jobs across namespaces sees its own (`scope`); nodes it may not list
// are left out, and each button is drawn only when a
// SelfSubjectAccessReview says its action is allowed.
let scope = null;
const reviews = new Map();
function may(verb, group, resource, namespace) {
  const key = [verb, group, resource, namespace || ''].join(' ');
  if (!reviews.has(key)) {
    const review = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb, group, resource, namespace: namespace || '' } } };
    reviews.set(key, change('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', review)
      .then((r) => Boolean(r && r.status && r.status.allowed), () => false));
  }
  return reviews.get(key);
}

async function findScope() {
  if (await may('list', 'batch', 'jobs', '')) return null;
  const review = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' };
  const who = await change('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', review);
  const user = ((who && who.status && who.status.userInfo) || {}).username || '';
  const [system, kind, namespace] = user.split(':');
  return system === 'system' && kind === 'serviceaccount' ? namespace : 'default';
}

// A list it may not read (nodes, for most accounts) is drawn as empty.
const listed = (plural) => list(plural).catch((e) => (unlessStale(e), { items: [] }));

// The watch path of `path` within the signed-in scope; none for what it
// may not list across namespaces.
function scoped(path) {
  if (!scope) return path;
  if (path === '/api/v1/nodes') return null;
  const cut = path.lastIndexOf('/');
  return `${path.slice(0, cut)}/namespaces/${encodeURIComponent(scope)}${path.slice(cut)}`;
}

// ---- drawing ----------------------------------------------------------------

function h(tag, attrs, ...children) {
  const svg = ['svg', 'rect', 'line', 'text', 'g', 'circle', 'title'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const pill = (text) => h('span', { class: 'pill ' + text }, text);
const link = (href, text) => h('a', { href }, text);

function table(headings, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty || 'None.');
  return h('table', {}, h('tr', {}, headings.map((x) => h('th', {}, x))),
    rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c)))));
}

function ago(time) {
  if (!time) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(time)) / 1000));
  if (s < 90) return s + 's';
  if (s < 5400) return Math.round(s / 60) + 'm';
  if (s < 172800) return Math.round(s / 3600) + 'h';
  return Math.round(s / 86400) + 'd';
}

function seconds(from, to) {
  if (!from) return null;
  return ((to ? Date.parse(to) : Date.now()) - Date.parse(from)) / 1000;
}

// An age that moves on by itself (see the ticker at the end): the page is
// not drawn again for it, so nothing a user is about to click is replaced.
const age = (time, suffix) =>
  h('span', { 'data-since': time, 'data-suffix': suffix }, ago(time) + suffix);

const duration = (s) => (s === null ? '' : s < 10 ? s.toFixed(2) + 's' : Math.round(s) + 's');

function show(title, ...content) {
  page.replaceChildren(h('h1', {}, title), ...content.flat(Infinity).filter((c) => c !== '' && c != null));
  for (const a of document.querySelectorAll('header nav a')) {
    a.classList.toggle('here', location.hash.startsWith(a.getAttribute('href')) && a.getAttribute('href') !== '#/' || location.hash === a.getAttribute('href'));
  }
}

function jobState(job) {
  const conditions = (job.status && job.status.conditions) || [];
  const done = conditions.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
  if (done) return done.type;
  if (job.spec && job.spec.suspend) return 'Suspended';
  if (job.spec && job.spec.startAfter && !(job.status && job.status.startTime)) return 'Scheduled';
  return (job.status && job.status.active) ? 'Running' : 'Pending';
}

function progress(job) {
  const s = job.status || {};
  const total = Math.max(job.spec.completions || 1, (s.succeeded || 0) + (s.failed || 0) + (s.active || 0));
  const part = (n, cls) => h('span', { class: cls, style: `width:${(100 * (n || 0)) / total}%` });
  return h('div', { class: 'progress', title: `${s.succeeded || 0} succeeded, ${s.failed || 0} failed, ${s.active || 0} active` },
    part(s.succeeded, 'ok'), part(s.failed, 'bad'), part(s.active, 'run'));
}

const completions = (job) => `${(job.status && job.status.succeeded) || 0}/${job.spec.completions || 1}`;

// A bar chart: `values` counted into `buckets` bins.
function histogram(values, label) {
  if (!values.length) return h('p', { class: 'muted' }, 'Nothing to draw yet.');
  const max = Math.max(...values), min = Math.min(...values);
  const bins = max > min ? 12 : 1, width = 560, height = 140;
  const step = (max - min) / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - min) / step))] += 1;
  const top = Math.max(...counts);
  const bar = width / bins;
  return h('svg', { width, height: height + 30, class: 'chart' },
    counts.map((n, i) => h('rect', {
      x: i * bar + 2, y: height - (height * n) / top, width: bar - 4, height: (height * n) / top, fill: '#3b5bdb',
    }, h('title', {}, `${n} between ${duration(min + i * step)} and ${duration(min + (i + 1) * step)}`))),
    h('text', { x: 0, y: height + 16 }, duration(min)),
    h('text', { x: width - 40, y: height + 16 }, duration(max)),
    h('text', { x: width / 2 - 40, y: height + 28 }, label));
}

// Rows of bars over time: one row per key, a bar per [start, end).
function timeline(rows, since, until) {
  const width = 900, row = 22, left = 140;
  const span = Math.max(1, until - since);
  const x = (t) => left + ((t - since) / span) * (width - left - 10);
  const colours = { Succeeded: '#2f9e44', Failed: '#e03131', Running: '#3b5bdb', Pending: '#f08c00' };
  const keys = [...new Set(rows.map((r) => r.key))];
  return h('svg', { width, height: keys.length * row + 24, class: 'chart' },
    keys.map((key, i) => h('text', { x: 0, y: i * row + 15 }, key)),
    rows.map((r) => {
      const i = keys.indexOf(r.key);
      const from = Math.max(r.start, since), to = Math.min(r.end, until);
      return h('rect', { x: x(from), y: i * row + 4, width: Math.max(2, x(to) - x(from)), height: row - 8, fill: colours[r.phase] || '#adb5bd' },
        h('title', {}, `${r.name}: ${r.phase}`));
    }),
    h('text', { x: left, y: keys.length * row + 18 }, new Date(since).toLocaleTimeString()),
    h('text', { x: width - 70, y: keys.length * row + 18 }, new Date(until).toLocaleTimeString()));
}

// ---- live updates -------------------------------------------------------------

// Watches of the page shown, closed when another page is shown; and the
// streams of one drawing of it (a live log), closed when it is drawn again.
let watching = [];
let drawing = [];
let redraw = null;

function stopWatching() {
  for (const c of watching.concat(drawing)) c.abort();
  watching = [];
  drawing = [];
}

// Draws the page again when `kind` (a Kubernetes API path) changes: its
// list's resourceVersion, then a watch from it.
async function watch(path) {
  const control = new AbortController();
  watching.push(control);
  try {
    const first = await get(path + '?limit=1');
    const since = first.metadata.resourceVersion;
    const response = await fetch(`${path}?watch=true&resourceVersion=${since}`, { signal: control.signal, credentials: 'same-origin' });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (decoder.decode(value, { stream: true }).includes('"type"')) schedule();
    }
  } catch (_) { /* aborted, or the node went away */ }
}

let pending = null;
function schedule() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; if (redraw) redraw().catch(fail); }, 150);
}

function fail(e) {
  if (e === STALE) return;
  page.append(h('p', { class: 'error' }, String(e.message || e)));
}

// ---- pages ----------------------------------------------------------------

async function overview() {
  const [nodes, instances, events] = await Promise.all([
    listed('nodes'), list('instances'), list('events'),
  ]);
  const all = items(instances);
  const running = all.filter((i) => i.status.phase === 'Running');
  const hourAgo = Date.now() - 3600e3;
  const failed = all.filter((i) => i.status.phase === 'Failed' && Date.parse(i.status.finishTime || 0) > hourAgo);
  const warnings = items(events).filter((e) => e.type === 'Warning' && Date.parse(e.lastTimestamp || e.eventTime || 0) > hourAgo);
  const now = Date.now(), since = now - 10 * 60e3;
  const bars = all.filter((i) => i.status.startTime && (!i.status.finishTime || Date.parse(i.status.finishTime) > since))
    .map((i) => ({ key: i.status.nodeName || '?', name: i.metadata.name, phase: i.status.phase,
      start: Date.parse(i.status.startTime), end: i.status.finishTime ? Date.parse(i.status.finishTime) : now }));
  show('Overview',
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('div', { class: 'stat', id: 'running-count' }, running.length), 'running now'),
      h('section', { class: 'card' }, h('div', { class: 'stat' }, items(nodes).length), 'nodes'),
      h('section', { class: 'card' }, h('div', { class: 'stat' }, failed.length), 'failed in the last hour')),
    h('h2', {}, 'Nodes'),
    table(['Name', 'Status', 'Labels', 'Taints'], items(nodes).map((n) => {
      const ready = ((n.status && n.status.conditions) || []).find((c) => c.type === 'Ready');
      return [n.metadata.name, pill(ready && ready.status === 'True' ? 'Ready' : 'NotReady'),
        Object.entries(n.metadata.labels || {}).map(([k, v]) => `${k}=${v}`).join(', '),
        ((n.spec && n.spec.taints) || []).map((t) => `${t.key}:${t.effect}`).join(', ')];
    })),
    h('h2', {}, 'Instances per node, last ten minutes'),
    bars.length ? timeline(bars, since, now) : h('p', { class: 'muted' }, 'Nothing ran in the last ten minutes.'),
    h('h2', {}, 'Running now'),
    table(['Instance', 'Node', 'Started'], running.map((i) => [
      link(`#/instances/${ns(i)}/${i.metadata.name}`, i.metadata.name), i.status.nodeName || '', age(i.status.startTime, ' ago')])),
    h('h2', {}, 'Failures in the last hour'),
    table(['Instance', 'Reason', 'Exit code', 'Ended'], failed.map((i) => [
      link(`#/instances/${ns(i)}/${i.metadata.name}`, i.metadata.name), i.status.reason || '', i.status.exitCode ?? '', age(i.status.finishTime, ' ago')]),
    'No instance failed in the last hour.'),
    warnings.length ? table(['Warning', 'Object', 'Message'], warnings.map((e) => [e.reason, `${e.involvedObject.kind}/${e.involvedObject.name}`, e.message])) : '');
  return ['/api/v1/pods', '/apis/batch/v1/jobs', '/api/v1/nodes'];
}

async function jobs() {
  const jobs = items(await list('jobs'));
  show('Jobs', table(['Name', 'Namespace', 'Status', 'Completions', 'Progress', 'Age'], jobs.map((j) => [
    link(`#/jobs/${ns(j)}/${j.metadata.name}`, j.metadata.name), ns(j), pill(jobState(j)), completions(j), progress(j), age(j.metadata.creationTimestamp, '')]),
  'No Jobs. Apply one: wasmjob apply -f examples/pi-job.yaml'));
  return ['/apis/batch/v1/jobs'];
}

async function job(namespace, name) {
  const [found, instances] = await Promise.all([
    one('jobs', namespace, name),
    list('instances', namespace, { labelSelector: `job-name=${name}` }),
  ]);
  const j = items(found)[0];
  if (!j) return show(`Job ${name}`, h('p', { class: 'muted' }, 'No such Job (yet).')), ['/apis/batch/v1/jobs'];
  const all = items(instances);
  const durations = all.filter((i) => i.status.finishTime).map((i) => seconds(i.status.startTime, i.status.finishTime));
  const path = `/apis/batch/v1/namespaces/${namespace}/jobs/${name}`;
  const [mayCreate, mayDelete] = await Promise.all([
    may('create', 'batch', 'jobs', namespace), may('delete', 'batch', 'jobs', namespace),
  ]);
  show(`Job ${name}`,
    h('div', { class: 'actions' },
      mayCreate && mayDelete && h('button', { id: 'retry', onclick: () => retry(j).catch(fail) }, 'Run again'),
      mayDelete && h('button', { class: 'danger', id: 'delete', onclick: () => confirm(`Delete Job ${name}?`) && change('DELETE', path, { propagationPolicy: 'Background' }).then(() => { location.hash = '#/jobs'; }).catch(fail) }, 'Delete')),
    h('section', { class: 'card' }, h('dl', {},
      h('dt', {}, 'Status'), h('dd', { id: 'job-status' }, pill(jobState(j))),
      h('dt', {}, 'Completions'), h('dd', { id: 'job-completions' }, completions(j)),
      h('dt', {}, 'Progress'), h('dd', {}, progress(j)),
      h('dt', {}, 'Succeeded / failed / active'), h('dd', {}, `${j.status.succeeded || 0} / ${j.status.failed || 0} / ${j.status.active || 0}`),
      h('dt', {}, 'Started'), h('dd', {}, j.status.startTime ? age(j.status.startTime, ' ago') : 'not yet'),
      h('dt', {}, 'Duration'), h('dd', {}, duration(seconds(j.status.startTime, j.status.completionTime))))),
    h('h2', {}, 'How long its instances ran'), histogram(durations, 'duration'),
    h('h2', {}, 'Instances'),
    table(['Instance', 'Phase', 'Node', 'Exit code', 'Reason', 'Restarts', 'Duration'], all.map((i) => [
      link(`#/instances/${ns(i)}/${i.metadata.name}`, i.metadata.name), pill(i.status.phase), i.status.nodeName || '',
      i.status.exitCode ?? '', i.status.reason || '', i.status.restartCount || 0, duration(seconds(i.status.startTime, i.status.finishTime))])));
  return ['/apis/batch/v1/jobs', '/api/v1/pods'];
}

// Runs a Job again: deleted and created anew from its own spec.
async function retry(j) {
  const path = `/apis/batch/v1/namespaces/${ns(j)}/jobs`;
  const again = { apiVersion: 'batch/v1', kind: 'Job',
    metadata: { name: j.metadata.name, namespace: ns(j), labels: j.metadata.labels, annotations: j.metadata.annotations },
    spec: j.spec };
  await change('DELETE', `${path}/${j.metadata.name}`, { propagationPolicy: 'Background' });
  for (let tries = 0; ; tries++) {
    try { await change('POST', path, again); break; } catch (e) {
      if (tries > 20) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function instance(namespace, name) {
  const found = items(await one('instances', namespace, name))[0];
  if (!found) return show(`Instance ${name}`, h('p', { class: 'muted' }, 'No such instance (yet).')), ['/api/v1/pods'];
  const s = found.status;
  let attempts = [];
  try { attempts = await get(`/wasmjob/v1/logs?namespace=${namespace}&name=${name}&allAttempts=true`); } catch (e) { unlessStale(e); }
  const log = h('pre', { class: 'log', id: 'log' });
  show(`Instance ${name}`,
    h('section', { class: 'card' }, h('dl', {},
      h('dt', {}, 'Phase'), h('dd', { id: 'phase' }, pill(s.phase)),
      h('dt', {}, 'Node'), h('dd', {}, s.nodeName || ''),
      h('dt', {}, 'Exit code'), h('dd', {}, s.exitCode ?? ''),
      h('dt', {}, 'Reason'), h('dd', {}, s.reason || ''),
      h('dt', {}, 'Message'), h('dd', {}, s.message || ''),
      h('dt', {}, 'Attempts'), h('dd', {}, (s.restartCount || 0) + 1),
      h('dt', {}, 'Started'), h('dd', {}, s.startTime ? age(s.startTime, ' ago') : ''),
      h('dt', {}, 'Duration'), h('dd', {}, duration(seconds(s.startTime, s.finishTime))))),
    attempts.length > 1 ? [h('h2', {}, 'Earlier attempts'), attempts.slice(0, -1).map((a) =>
      h('details', {}, h('summary', {}, `Attempt ${a.attempt + 1}`), h('pre', { class: 'log' }, a.text)))] : '',
    h('h2', {}, s.finishTime ? 'Output' : 'Output (live)'), log);
  followLog(namespace, name, log);
  // The log follows by itself; the page is drawn again when the instance
  // changes (its end), not at each line.
  return ['/api/v1/pods'];
}

// Appends the instance's output to `log` as it is written.
async function followLog(namespace, name, log) {
  const control = new AbortController();
  drawing.push(control);
  try {
    const response = await fetch(`/wasmjob/v1/logs?namespace=${namespace}&name=${name}&follow=true&timestamps=true`,
      { signal: control.signal, credentials: 'same-origin' });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let partial = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      partial += decoder.decode(value, { stream: true });
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const line of lines) {
        if (!line) continue;
        const entry = JSON.parse(line);
        if (entry.error) { log.append(entry.error + '\n'); continue; }
        const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
        log.append(entry.text);
        if (stick) log.scrollTop = log.scrollHeight;
      }
    }
  } catch (_) { /* the page changed */ }
}

async function cronjobs() {
  const cronjobs = items(await list('cronjobs'));
  const next = await Promise.all(cronjobs.map((c) => nextTimes(c, 1)));
  show('CronJobs', table(['Name', 'Namespace', 'Schedule', 'Suspended', 'Active', 'Last scheduled', 'Next'], cronjobs.map((c, i) => [
    link(`#/cronjobs/${ns(c)}/${c.metadata.name}`, c.metadata.name), ns(c), schedules(c), c.spec.suspend ? pill('Suspended') : 'no',
    ((c.status && c.status.active) || []).length, c.status && c.status.lastScheduleTime ? age(c.status.lastScheduleTime, ' ago') : '',
    c.spec.suspend ? '' : (next[i][0] || '')]), 'No CronJobs.'));
  return ['/apis/batch/v1/cronjobs'];
}

// Every schedule of a CronJob (wasmjob's spec.schedules too), on one line.
function schedules(c) {
  const more = (c.spec.schedules || []).map((s) => (typeof s === 'string' ? s : s.schedule + (s.timeZone ? ` (${s.timeZone})` : '')));
  return [c.spec.schedule].filter(Boolean).concat(more).join(', ');
}

function nextTimes(c, count) {
  const q = new URLSearchParams({ namespace: ns(c), name: c.metadata.name, count: String(count) });
  return get('/wasmjob/v1/schedule?' + q).then((a) => a.times).catch((e) => (unlessStale(e), []));
}

async function cronjob(namespace, name) {
  const [found, jobList, events] = await Promise.all([
    one('cronjobs', namespace, name),
    list('jobs', namespace),
    list('events', namespace),
  ]);
  const c = items(found)[0];
  if (!c) return show(`CronJob ${name}`, h('p', { class: 'muted' }, 'No such CronJob (yet).')), ['/apis/batch/v1/cronjobs'];
  const annotation = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
  const runs = items(jobList)
    .filter((j) => (j.metadata.ownerReferences || []).some((o) => o.kind === 'CronJob' && o.name === name))
    .map((j) => {
      const scheduled = (j.metadata.annotations || {})[annotation] || j.metadata.creationTimestamp;
      return { scheduled: Date.parse(scheduled), state: jobState(j), late: seconds(scheduled, j.metadata.creationTimestamp), job: j };
    });
  const missed = items(events).filter((e) => e.reason === 'MissedSchedule' && e.involvedObject.name === name)
    .map((e) => ({ scheduled: Date.parse((e.message.match(/time (\S+)/) || [])[1] || e.lastTimestamp), state: 'Missed', late: null }));
  const all = runs.concat(missed).sort((a, b) => a.scheduled - b.scheduled);
  const next = c.spec.suspend ? [] : await nextTimes(c, 5);
  const path = `/apis/batch/v1/namespaces/${namespace}/cronjobs/${name}`;
  const suspend = (on) => change('PATCH', path, { spec: { suspend: on } }, 'application/merge-patch+json').then(schedule).catch(fail);
  const [mayRun, mayPatch, mayDelete] = await Promise.all([
    may('create', 'batch', 'jobs', namespace), may('patch', 'batch', 'cronjobs', namespace),
    may('delete', 'batch', 'cronjobs', namespace),
  ]);
  show(`CronJob ${name}`,
    h('div', { class: 'actions' },
      mayRun && h('button', { id: 'run-now', onclick: () => runNow(c).then(schedule).catch(fail) }, 'Run now'),
      mayPatch && (c.spec.suspend ? h('button', { id: 'resume', onclick: () => suspend(false) }, 'Resume')
        : h('button', { id: 'suspend', onclick: () => suspend(true) }, 'Suspend')),
      mayDelete && h('button', { class: 'danger', id: 'delete-cronjob', onclick: () => confirm(`Delete CronJob ${name}?`) && change('DELETE', path).then(() => { location.hash = '#/cronjobs'; }).catch(fail) }, 'Delete')),
    h('section', { class: 'card' }, h('dl', {},
      h('dt', {}, 'Schedule'), h('dd', {}, c.spec.schedule + (c.spec.timeZone ? ` (${c.spec.timeZone})` : '')),
      h('dt', {}, 'Suspended'), h('dd', { id: 'suspended' }, c.spec.suspend ? 'yes' : 'no'),
      h('dt', {}, 'Concurrency'), h('dd', {}, c.spec.concurrencyPolicy || 'Allow'),
      h('dt', {}, 'Last scheduled'), h('dd', {}, (c.status && c.status.lastScheduleTime) || 'never'),
      h('dt', {}, 'Last succeeded'), h('dd', {}, (c.status && c.status.lastSuccessfulTime) || 'never'),
      h('dt', {}, 'Next fire times'), h('dd', { id: 'next' }, next.join(', ') || (c.spec.suspend ? 'none while suspended' : '')))),
    h('h2', {}, 'Past scheduled times: outcome and how late each started'), lateness(all),
    table(['Scheduled', 'Outcome', 'Late by', 'Job'], all.slice().reverse().slice(0, 50).map((r) => [
      new Date(r.scheduled).toISOString(), pill(r.state === 'Complete' ? 'Succeeded' : r.state), r.late === null ? '' : duration(r.late),
      r.job ? link(`#/jobs/${ns(r.job)}/${r.job.metadata.name}`, r.job.metadata.name) : '']), 'Not run yet.'));
  return ['/apis/batch/v1/cronjobs', '/apis/batch/v1/jobs'];
}

// Scheduled times as dots: left to right in time, up by lateness.
function lateness(runs) {
  if (!runs.length) return h('p', { class: 'muted' }, 'Nothing scheduled yet.');
  const width = 900, height = 120, left = 40;
  const first = runs[0].scheduled, last = Math.max(runs[runs.length - 1].scheduled, first + 1);
  const worst = Math.max(1, ...runs.map((r) => r.late || 0));
  const colours = { Complete: '#2f9e44', Failed: '#e03131', Running: '#3b5bdb', Pending: '#f08c00', Missed: '#adb5bd' };
  return h('svg', { width, height: height + 24, class: 'chart' },
    h('text', { x: 0, y: 12 }, duration(worst)), h('text', { x: 0, y: height }, '0s'),
    runs.map((r) => h('circle', {
      cx: left + ((r.scheduled - first) / (last - first)) * (width - left - 10), cy: height - ((r.late || 0) / worst) * (height - 12),
      r: 5, fill: colours[r.state] || '#adb5bd',
    }, h('title', {}, `${new Date(r.scheduled).toISOString()}: ${r.state}${r.late === null ? '' : ', ' + duration(r.late) + ' late'}`))),
    h('text', { x: left, y: height + 20 }, new Date(first).toLocaleTimeString()),
    h('text', { x: width - 70, y: height + 20 }, new Date(last).toLocaleTimeString()));
}

// `create job --from=cronjob/NAME`: a Job from the CronJob's template.
function runNow(c) {
  const name = `${c.metadata.name}-manual-${Date.now().toString(36)}`;
  const template = c.spec.jobTemplate;
  const job = { apiVersion: 'batch/v1', kind: 'Job',
    metadata: { name, namespace: ns(c), labels: (template.metadata || {}).labels,
      annotations: Object.assign({ 'cronjob.kubernetes.io/instantiate': 'manual' }, (template.metadata || {}).annotations) },
    spec: template.spec };
  return change('POST', `/apis/batch/v1/namespaces/${ns(c)}/jobs`, job);
}

async function daemonsets() {
  const [daemonsets, instances] = await Promise.all([list('daemonsets'), list('instances')]);
  const all = items(instances);
  show('DaemonSets', items(daemonsets).length ? items(daemonsets).map((d) => {
    const mine = all.filter((i) => (i.metadata.ownerReferences || []).some((o) => o.kind === 'DaemonSet' && o.name === d.metadata.name));
    const s = d.status || {};
    return h('section', { class: 'card' },
      h('h2', {}, link(`#/daemonsets/${ns(d)}/${d.metadata.name}`, d.metadata.name)),
      h('p', {}, `desired ${s.desiredNumberScheduled || 0}, current ${s.currentNumberScheduled || 0}, ready ${s.numberReady || 0}, up to date ${s.updatedNumberScheduled || 0}`),
      table(['Node', 'Instance', 'Phase', 'Started'], mine.map((i) => [i.status.nodeName || '',
        link(`#/instances/${ns(i)}/${i.metadata.name}`, i.metadata.name), pill(i.status.phase), age(i.status.startTime, '')])));
  }) : h('p', { class: 'muted' }, 'No DaemonSets.'));
  return ['/apis/apps/v1/daemonsets', '/api/v1/pods'];
}

async function events() {
  // Newest first (the API lists them by name).
  const when = (e) => Date.parse(e.lastTimestamp || e.eventTime || 0);
  const events = items(await list('events')).sort((a, b) => when(b) - when(a));
  show('Events', table(['Type', 'Reason', 'Object', 'Message', 'When'], events.slice(0, 300).map((e) => [
    h('span', { class: 'pill ' + (e.type === 'Warning' ? 'Failed' : 'Succeeded') }, e.type),
    e.reason, `${e.involvedObject.kind}/${e.involvedObject.name}`, e.message, age(e.lastTimestamp || e.eventTime, ' ago')])));
  return ['/api/v1/events'];
}

// ---- routing ----------------------------------------------------------------

const routes = [
  [/^#?\/?$/, overview],
  [/^#\/jobs$/, jobs],
  [/^#\/jobs\/([^/]+)\/([^/]+)$/, job],
  [/^#\/instances\/([^/]+)\/([^/]+)$/, instance],
  [/^#\/cronjobs$/, cronjobs],
  [/^#\/cronjobs\/([^/]+)\/([^/]+)$/, cronjob],
  [/^#\/daemonsets(?:\/([^/]+)\/([^/]+))?$/, daemonsets],
  [/^#\/events$/, events],
];

async function route() {
  routed += 1;
  stopWatching();
  const hash = location.hash || '#/';
  const found = routes.find(([pattern]) => pattern.test(hash));
  if (!found) return show('Not found', h('p', {}, link('#/', 'Back to the overview')));
  const args = hash.match(found[0]).slice(1).filter((a) => a !== undefined).map(decodeURIComponent);
  redraw = async () => {
    for (const c of drawing) c.abort();
    drawing = [];
    return found[1](...args);
  };
  try {
    const paths = (await redraw()) || [];
    for (const path of paths.map(scoped).filter(Boolean)) watch(path);
  } catch (e) {
    fail(e);
  }
}

// The scope first, so that the first page drawn is drawn within it.
findScope().then((found) => { scope = found; }, () => {}).finally(() => {
  window.addEventListener('hashchange', route);
  route();
});
// Ages move on in place, every 5 s.
setInterval(() => {
  for (const el of document.querySelectorAll('[data-since]')) {
    el.textContent = ago(el.dataset.since) + el.dataset.suffix;
  }
}, 5000);
