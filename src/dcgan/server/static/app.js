// dcgan dashboard. Commands and past runs go through the REST API; the live run arrives on one WebSocket
// (/api/live) whose first message, a hello, carries the whole current state, so a reload loses nothing.
// Everything from the server is inserted as text, never as HTML.

import { $, $$, el, ApiError, getJSON, sendJSON, runPath, duration, integer, value } from './util.js';
import { LABELS, METRIC_COLORS, BAND_COLORS, makeChart, dataset, toSeries, halve } from './charts.js';
import { state, ACTIVE, on, emit } from './state.js';
import { initCompare } from './compare.js';
import { initGenerate } from './generate.js';
import { initExport } from './export.js';

const CHARTS = { loss: ['loss_D', 'loss_G'], d: ['D_x', 'D_G_z'], ratio: ['loss_ratio'] };
const MAX_POINTS = 4000; // per curve in the page; longer live runs are averaged down in pairs
const LOG_LINES = 500;
// Groups of the config form shown open; later groups (and any a new version adds) start folded.
const MAIN_GROUPS = ['data', 'model', 'optim', 'length', 'run'];
// world_size is the form's "processes" box (the server launches that many local processes).
const HIDDEN_FIELDS = ['world_size'];
// Used when the schema does not list them (an older server): control.LIVE_FIELDS and control.FORK_FIXED.
const LIVE_FIELDS = ['lr_g', 'lr_d', 'd_steps', 'label_smoothing', 'instance_noise', 'sample_every', 'checkpoint_every'];
const FORK_FIXED = ['dataset', 'data_dir', 'image_size', 'channels', 'latent_dim', 'g_width', 'd_width', 'd_norm',
  'spectral_norm', 'conditional', 'd_conditioning', 'num_classes', 'seed'];
// Numbers of an evaluation, in the order a table shows them (dcgan.metrics.evaluate.ROWS).
const EVAL_ROWS = [['fid', 'FID'], ['kid', 'KID'], ['precision', 'precision'], ['recall', 'recall'],
  ['is', 'IS'], ['classes_covered', 'classes covered'], ['class_kl', 'class KL'], ['diversity', 'diversity'],
  ['nn_ratio', 'nearest-neighbour ratio'], ['copies', 'copies']];
const EVAL_COLORS = { fid: '#4f46e5', kid: '#e4572e', precision: '#12a37f', recall: '#d4a017', diversity: '#8e44ad' };

function say(text, kind = '') {
  const message = $('#message');
  message.textContent = text;
  message.className = `message ${kind}`;
}

// --- Charts of the viewed run -------------------------------------------------------------------------------

const charts = {};

function rebuildCharts() {
  for (const [key, metrics] of Object.entries(CHARTS)) {
    charts[key].data.datasets = metrics.map((metric) => {
      state.series[metric] ??= [];
      return dataset(LABELS[metric], state.series[metric], METRIC_COLORS[metric]);
    });
  }
  renderMarks();
  drawCharts();
}

let drawPending = false;
function drawCharts() {
  // At most one redraw per frame however fast points arrive; hidden tabs get none until they show again.
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    for (const [key, metrics] of Object.entries(CHARTS)) {
      charts[key].update('none');
      // For tests and curious users: the longest curve's length and last step.
      const longest = Math.max(...metrics.map((m) => (state.series[m] || []).length));
      const last = Math.max(...metrics.map((m) => state.series[m]?.at(-1)?.x ?? -1));
      charts[key].canvas.dataset.points = String(longest);
      charts[key].canvas.dataset.lastStep = last < 0 ? '' : String(last);
    }
  });
}

function addPoint(step, values) {
  let replaced = false;
  for (const [name, y] of Object.entries(values)) {
    if (y === null || y === undefined) continue;
    const points = (state.series[name] ??= []);
    if (points.length && step <= points.at(-1).x) continue; // already in the history the page loaded
    points.push({ x: step, y });
    if (points.length > MAX_POINTS) {
      state.series[name] = halve(points);
      replaced = true;
    }
  }
  if (replaced) rebuildCharts(); // the charts still hold the old arrays
  else drawCharts();
}

// Live hyperparameter changes: a numbered dashed line on both charts, and the same numbers in a list below.
function renderMarks() {
  const marks = state.marks.map((mark) => ({ step: mark.step }));
  for (const chart of Object.values(charts)) {
    if (chart.canvas.id === 'chart-eval') continue;
    chart.options.plugins.marks.marks = marks;
    chart.canvas.dataset.marks = String(marks.length);
  }
  const list = $('#marks');
  list.hidden = !state.marks.length;
  list.replaceChildren(...state.marks.map((mark, i) => el('li', { dataset: { field: mark.field, step: mark.step } },
    el('b', {}, String(i + 1)), ` after step ${integer(mark.step)}: `, el('code', {}, mark.field), ` ${value(mark.old)} → ${value(mark.new)}`)));
  drawCharts();
}

function addMark(mark) {
  if (state.marks.some((m) => m.step === mark.step && m.field === mark.field && m.new === mark.new)) return;
  state.marks.push(mark);
  renderMarks();
}

// --- The viewed run -----------------------------------------------------------------------------------------

function isLiveView() {
  return state.view !== null && state.view === state.status.run;
}

// A multi-process run has no folder until its processes are up: nothing to fetch about it while it starts.
function liveStarting(name) {
  return name === state.status.run && state.status.state === 'starting';
}

function isLiveActive() {
  return isLiveView() && ACTIVE.includes(state.status.state);
}

function showRun(name, metrics, sampleSteps) {
  const changed = state.view !== name;
  state.view = name;
  state.series = toSeries(metrics);
  state.marks = [...(metrics.hparams || [])];
  if (changed) state.warnings = [];
  rebuildCharts();
  setSamples(sampleSteps);
  renderStatus();
  renderRuns();
  renderEval();
  if ((changed || state.detailsFor !== name) && !liveStarting(name)) loadViewDetails(name);
  emit('view', name);
}

async function openRun(name) {
  state.followLive = name === state.status.run;
  if (liveStarting(name)) {
    showRun(name, { step: [], series: {} }, []);
    return;
  }
  state.loading = { name, points: [], samples: [], marks: [] };
  try {
    const [metrics, samples] = await Promise.all([
      getJSON(`${runPath(name)}/metrics?max_points=2000`), getJSON(`${runPath(name)}/samples`)]);
    const waiting = state.loading;
    state.loading = null;
    showRun(name, metrics, samples.steps);
    for (const point of waiting.points) addPoint(point.step, point.values);
    for (const step of waiting.samples) addSample(step);
    for (const mark of waiting.marks) addMark(mark);
  } catch (error) {
    state.loading = null;
    say(`could not open ${name}: ${error.message}`, 'error');
  }
}

// What the other cards show of the viewed run: its config and changes, record, evaluation, architecture, warnings.
async function loadViewDetails(name) {
  state.detailsFor = name;
  loadArchitecture(name);
  loadRecord(name);
  loadEval(name);
  try {
    state.detail = await getJSON(runPath(name));
  } catch {
    state.detail = null;
  }
  if (state.view !== name) return;
  renderSteer();
  renderStatus();
  if (!isLiveView()) loadWarnings(name);
}

// --- Samples ------------------------------------------------------------------------------------------------

function setSamples(steps) {
  state.samples = [...steps].sort((a, b) => a - b);
  updateSlider();
}

function addSample(step) {
  if (!state.samples.includes(step)) state.samples.push(step);
  state.samples.sort((a, b) => a - b);
  updateSlider();
}

function updateSlider() {
  const slider = $('#sample-slider');
  slider.max = String(Math.max(0, state.samples.length - 1));
  if ($('#sample-follow').checked) slider.value = slider.max;
  showSample();
}

function showSample() {
  const img = $('#sample-img');
  const index = Number($('#sample-slider').value);
  const step = state.samples[index];
  if (step === undefined || !state.view) {
    img.hidden = true;
    $('#sample-empty').hidden = false;
    $('#sample-label').textContent = '–';
    Object.assign($('#real-img'), { hidden: true }).dataset.src = '';
    $('#real-empty').hidden = false;
    return;
  }
  showReal(); // a run writes real.png before its first sample grid: asking earlier would only find nothing
  const src = `${runPath(state.view)}/samples/${step}.png`;
  $('#sample-label').textContent = `step ${integer(step)} · ${index + 1} of ${state.samples.length}`;
  if (img.dataset.src === src) return;
  img.dataset.src = src;
  // Swap only when the next grid has loaded, so scrubbing never flashes an empty frame.
  const next = new Image();
  next.onload = () => {
    if (img.dataset.src !== src) return;
    img.src = src;
    img.dataset.step = String(step);
    img.hidden = false;
    $('#sample-empty').hidden = true;
  };
  next.src = src;
}

// Real training images beside the samples, as the run wrote them when it started (runs from before have none).
function showReal(again = false) {
  const img = $('#real-img');
  const src = state.view ? `${runPath(state.view)}/real.png` : '';
  if (img.dataset.src === src && !again) return;
  img.dataset.src = src;
  img.hidden = true;
  $('#real-empty').hidden = false;
  $('#real-empty').textContent = 'Real images appear here when a run starts.';
  if (!src) return;
  const next = new Image();
  next.onload = () => {
    if (img.dataset.src !== src) return;
    img.src = next.src;
    img.hidden = false;
    $('#real-empty').hidden = true;
  };
  next.onerror = () => { if (img.dataset.src === src) $('#real-empty').textContent = 'This run has no grid of real images (it started before they were kept).'; };
  next.src = again ? `${src}?t=${Date.now()}` : src;
}

// The balance chart's bands, from the health monitor (GET /api/health/bands).
async function loadBands() {
  const answer = await getJSON('/api/health/bands');
  charts.ratio.options.plugins.bands.bands = answer.ratio_bands;
  charts.ratio.canvas.dataset.bands = String(answer.ratio_bands.length);
  $('#ratio-bands').replaceChildren(...answer.ratio_bands.map((band) => el('li', {
    style: `--swatch: ${BAND_COLORS[band.name] || '#eee'}`, title: band.meaning },
  `${band.name}: ${value(band.low)}–${band.high === null ? '∞' : value(band.high)}`)),
  el('li', { class: 'plain' }, `logged for --loss ${answer.ratio_losses.join(', ')} (not with --feature-matching)`));
  drawCharts();
}

// --- Status and progress ------------------------------------------------------------------------------------

function viewedSummary() {
  return state.runs.find((run) => run.name === state.view) || null;
}

function renderStatus() {
  const s = state.status;
  const busy = ACTIVE.includes(s.state);
  const paused = s.state === 'paused';
  const pill = $('#status-pill');
  pill.textContent = s.stop_requested && busy ? 'stopping' : s.state;
  pill.dataset.state = s.state;
  $('#live-run').textContent = s.run ? `${s.run}${s.message ? ` — ${s.message}` : ''}` : s.message || '';
  if (!$('#start').dataset.sending) {
    $('#start').disabled = busy;
    $('#start').textContent = busy ? 'A run is training' : 'Start training';
  }
  $('#stop').disabled = !busy || s.stop_requested;
  $('#save-checkpoint').disabled = !busy || s.state === 'starting';
  const steerable = busy && s.state !== 'starting' && !s.stop_requested && (s.nproc || 1) === 1;
  const pause = $('#pause');
  if (!pause.dataset.sending) {
    pause.disabled = !steerable;
    pause.textContent = paused ? 'Continue' : 'Pause';
    pause.dataset.action = paused ? 'unpause' : 'pause';
  }
  $('#go-live').hidden = state.followLive || !s.run || state.view === s.run;

  const live = isLiveView();
  const summary = viewedSummary();
  $('#view-label').textContent = live ? (busy ? (paused ? 'Live run · paused' : 'Live run') : 'Last run of this server')
    : state.view ? 'Past run' : 'Live run';
  $('#view-name').textContent = state.view || 'No run yet — start one from the form';
  $('#layout').toggleAttribute('data-empty', !state.view);
  const parent = summary?.parent;
  const lineage = $('#view-parent');
  lineage.hidden = !parent;
  if (parent) lineage.textContent = `forked from ${parent.run} at step ${integer(parent.step)}`;
  const step = live ? s.step : summary?.step ?? null;
  const total = live ? s.total_steps : summary?.total_steps ?? null;
  const fraction = step !== null && total ? Math.min(1, step / total) : 0;
  $('#progress-bar').style.width = `${(fraction * 100).toFixed(2)}%`;
  $('#progress').setAttribute('aria-valuenow', String(Math.round(fraction * 100)));
  $('#stat-step').textContent = step === null ? '–' : `${integer(step)} / ${integer(total)}`;
  $('#stat-step').dataset.step = step === null ? '' : String(step);
  const perEpoch = live ? s.steps_per_epoch : null;
  $('#stat-epoch').textContent = perEpoch && total
    ? `${Math.min(s.epoch + 1, Math.ceil(total / perEpoch))} / ${Math.ceil(total / perEpoch)}` : '–';
  $('#stat-speed').textContent = live && busy && !paused && s.images_per_s ? integer(s.images_per_s) : '–';
  $('#stat-eta').textContent = live && busy ? (paused ? 'paused' : duration(s.eta_s)) : '–';
  $('#stat-device').textContent = live ? `${s.device || '–'}${s.nproc > 1 ? ` × ${s.nproc}` : ''}` : state.detail?.config?.device || '–';

  $('#step-row').hidden = !(live && paused);
  $$('#step-row button').forEach((button) => { if (!button.dataset.sending) button.disabled = !(live && paused); });

  const viewState = live ? s.state : summary?.status;
  $('#resume-row').hidden = busy || !state.view || !['stopped', 'finished', 'failed'].includes(viewState)
    || (summary && summary.checkpoints === 0);
  // The live run can be forked from where it is now (the dialog stops it first: one training at a time).
  const forkLive = live && busy && s.state !== 'starting' && (s.nproc || 1) === 1;
  $('#fork').disabled = !state.view || !(forkLive || (!busy && summary?.checkpoints > 0));
  $('#fork').title = forkLive ? 'stop this run here, or pick a checkpoint, and start a new run from it'
    : busy ? 'one training at a time: stop the active run to fork' : 'a new run from a checkpoint of this one';
  renderHealth();
  renderSteerState();
}

// --- Health warnings: what the trainer's monitor (and the rest of it) logs at warning level ---------------

function noteWarning(line) {
  if (!['warning', 'error'].includes(line.level)) return;
  state.warnings.push(line);
  if (state.warnings.length > 50) state.warnings.shift();
  renderHealth();
}

async function loadWarnings(name) {
  try {
    const answer = await getJSON(`${runPath(name)}/log?lines=500`);
    if (state.view !== name) return;
    state.warnings = answer.lines.filter((line) => ['warning', 'error'].includes(line.level));
  } catch {
    state.warnings = [];
  }
  renderHealth();
}

function renderHealth() {
  const list = $('#health');
  const shown = state.warnings.slice(-3);
  list.hidden = !shown.length;
  list.replaceChildren(...shown.map((line) => el('li', { class: line.level }, line.message)));
  if (state.warnings.length > 3) list.append(el('li', { class: 'more' }, `${state.warnings.length - 3} earlier warnings in the log`));
}

// --- Log ----------------------------------------------------------------------------------------------------

function logLine(line) {
  const log = $('#log');
  const stamp = line.time ? new Date(line.time * 1000).toLocaleTimeString([], { hour12: false }) : '';
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(el('li', { class: line.level }, el('time', {}, stamp), line.message));
  while (log.childElementCount > LOG_LINES) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
  $('#log-count').textContent = `${log.childElementCount} lines`;
}

function setLog(lines) {
  $('#log').replaceChildren();
  lines.forEach(logLine);
  $('#log-count').textContent = lines.length ? `${lines.length} lines` : '';
}

// --- Live feed ----------------------------------------------------------------------------------------------

let retries = 0;

function connect() {
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`);
  let watchdog;
  // Heartbeats come every few seconds: a longer silence means the connection is dead, even if not closed.
  const kick = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => socket.close(), state.heartbeatS * 3000 + 2000);
  };
  const conn = $('#conn');
  socket.onopen = () => {
    conn.dataset.state = 'live';
    conn.textContent = 'live';
    retries = 0;
    kick();
  };
  socket.onmessage = (event) => {
    kick();
    onMessage(JSON.parse(event.data));
  };
  socket.onclose = () => {
    clearTimeout(watchdog);
    conn.dataset.state = 'offline';
    conn.textContent = 'reconnecting';
    setTimeout(connect, Math.min(10000, 500 * 2 ** retries++));
  };
}

function onMessage(message) {
  const loading = state.loading?.name === message.run ? state.loading : null;
  const viewed = message.run === state.view;
  switch (message.type) {
    case 'hello': onHello(message); break;
    case 'status': onStatus(message.status); break;
    case 'metrics':
      if (loading) loading.points.push(message);
      else if (viewed) {
        addPoint(message.step, message.values);
        if (Object.keys(message.values).some((k) => k.startsWith('eval/'))) renderEval();
      }
      if (message.run === state.status.run) emit('live-metrics', message);
      break;
    case 'sample':
      if (loading) loading.samples.push(message.step);
      else if (viewed) addSample(message.step);
      emit('sample', message);
      break;
    case 'log':
      logLine(message.line);
      if (isLiveView()) noteWarning(message.line);
      break;
    case 'checkpoint':
      logLine({ time: Date.now() / 1000, level: 'info', message: `checkpoint ${message.checkpoint} saved` });
      emit('checkpoint', message);
      updateRunCounts(message.run);
      break;
    case 'hparam':
      if (loading) loading.marks.push(message.mark);
      else if (viewed) addMark(message.mark);
      if (message.run === state.status.run) loadHyperparameters();
      break;
    case 'event':
      if (viewed && /health|warn/.test(message.kind)) {
        noteWarning({ time: Date.now() / 1000, level: 'warning', message: message.data?.message || JSON.stringify(message.data) });
      }
      if (viewed && message.kind === 'RealGrid') showReal(true); // the run has just written real.png
      break;
    default: break; // heartbeats, epoch ends: the watchdog has seen them
  }
}

function onHello(hello) {
  state.heartbeatS = hello.heartbeat_s;
  const previous = state.status;
  state.status = hello.status;
  setLog(hello.log);
  const run = hello.status.run;
  if (run && (state.followLive || state.view === run)) {
    state.followLive = true;
    state.warnings = hello.log.filter((line) => ['warning', 'error'].includes(line.level));
    showRun(run, hello.history, hello.sample_steps);
  } else {
    renderStatus();
  }
  if (ACTIVE.includes(hello.status.state)) loadHyperparameters();
  if (previous.run !== run || previous.state !== hello.status.state) refreshRuns();
}

function onStatus(status) {
  const previous = state.status;
  state.status = status;
  if (ACTIVE.includes(previous.state) && !ACTIVE.includes(status.state)) {
    say(`${status.run}: ${status.message || status.state}`, status.state === 'failed' ? 'error' : 'ok');
  }
  if (status.run && status.run !== previous.run && state.followLive && state.view !== status.run) {
    openRun(status.run); // a new run started (here or from another page): follow it
  } else if (previous.state === 'starting' && status.state !== 'starting' && status.run === state.view) {
    openRun(status.run); // its folder exists now: history, grids, record (live points already shown stay)
  }
  if (ACTIVE.includes(status.state) && (previous.run !== status.run || !ACTIVE.includes(previous.state))) {
    loadHyperparameters();
  }
  renderStatus();
  updateActiveRunMeta();
  if (previous.state !== status.state || previous.run !== status.run) refreshRuns();
}

// --- Runs list: the family tree of forks, and the runs ticked for side by side --------------------------------

async function refreshRuns() {
  try {
    state.runs = (await getJSON('/api/runs')).runs;
  } catch (error) {
    say(`could not list runs: ${error.message}`, 'error');
    return;
  }
  renderRuns();
  renderStatus();
  emit('runs', state.runs);
  if (!state.view && state.runs.length && !ACTIVE.includes(state.status.state)) openRun(state.runs[0].name);
}

function updateRunCounts(name) {
  const run = state.runs.find((r) => r.name === name);
  if (run && !run.checkpoints) refreshRuns();
}

// Roots newest first, each followed by its forks (depth-first), so a family reads top to bottom.
function familyOrder(runs) {
  const names = new Set(runs.map((r) => r.name));
  const children = new Map();
  const roots = [];
  for (const run of runs) {
    const parent = run.parent?.run?.split('/').at(-1);
    if (parent && names.has(parent) && parent !== run.name) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(run);
    } else {
      roots.push(run);
    }
  }
  const out = [];
  const seen = new Set();
  const visit = (run, depth) => {
    if (seen.has(run.name)) return;
    seen.add(run.name);
    out.push({ run, depth });
    const kids = (children.get(run.name) || []).sort((a, b) => (a.updated || 0) - (b.updated || 0));
    kids.forEach((kid) => visit(kid, depth + 1));
  };
  roots.forEach((run) => visit(run, 0));
  runs.forEach((run) => visit(run, 0)); // a cycle or a missing parent: still listed
  return out;
}

function renderRuns() {
  const list = $('#run-list');
  if (!state.runs.length) {
    list.replaceChildren(el('li', {}, el('span', { class: 'empty' }, 'No runs yet in this runs folder.')));
    return;
  }
  list.replaceChildren(...familyOrder(state.runs).map(({ run, depth }) => {
    const compared = state.compare.get(run.name);
    const box = el('input', { type: 'checkbox', checked: Boolean(compared), title: 'compare side by side',
      'aria-label': `compare ${run.name}` });
    box.addEventListener('change', () => emit('compare-toggle', { name: run.name, on: box.checked }));
    const open = el('button', { type: 'button', class: 'open', title: `open ${run.name}` },
      el('span', { class: 'name' },
        compared ? el('span', { class: 'swatch', style: `background:${compared.color}` }) : null,
        depth ? el('span', { class: 'fork-mark', 'aria-hidden': 'true' }, '↳ ') : null, run.name),
      run.parent ? el('span', { class: 'meta lineage' }, `fork of ${run.parent.run.split('/').at(-1)} at step ${integer(run.parent.step)}`) : null,
      el('span', { class: 'meta', dataset: { run: run.name } }, runMeta(run)));
    open.addEventListener('click', () => openRun(run.name));
    const status = run.active ? state.status.state : run.status || 'unknown';
    return el('li', {
      class: `${run.name === state.view ? 'viewing' : ''}${depth ? ' child' : ''}`,
      style: depth ? `--depth:${Math.min(depth, 4)}` : null,
      dataset: { run: run.name, depth: String(depth), parent: run.parent?.run?.split('/').at(-1) || '' },
    }, box, open, el('span', { class: 'pill', dataset: { state: status }, title: run.broken || run.message || null },
      status));
  }));
}

function runMeta(run) {
  const step = run.active ? state.status.step : run.step; // status.json is written on status changes only
  const progress = step !== null && step !== undefined && run.total_steps ? `${integer(step)}/${integer(run.total_steps)} steps` : '';
  return [run.dataset, run.image_size ? `${run.image_size}px` : null, run.conditional ? 'conditional' : null, progress]
    .filter(Boolean).join(' · ');
}

function updateActiveRunMeta() {
  const run = state.runs.find((r) => r.active);
  const meta = run && document.querySelector(`.run-list .meta[data-run="${CSS.escape(run.name)}"]`);
  if (meta) meta.textContent = runMeta(run);
}

// --- Forms built from the config schema (the new-run form, the fork dialog, live hyperparameters) -------------

function fieldInput(field, devices, prefix) {
  const common = { name: field.name, id: `${prefix}-${field.name}`, dataset: { field: field.name } };
  if (field.type === 'bool') return el('input', { ...common, type: 'checkbox', checked: Boolean(field.default) });
  if (field.choices) {
    const select = el('select', common);
    if (field.optional) select.append(el('option', { value: '' }, 'auto'));
    for (const choice of field.choices) {
      const note = field.name === 'device' && devices[choice] ? ` — ${devices[choice]}` : '';
      select.append(el('option', { value: String(choice) }, `${choice}${note}`));
    }
    select.value = field.default === null ? '' : String(field.default);
    return select;
  }
  if (field.type === 'int' || field.type === 'float') {
    const input = el('input', { ...common, type: 'number', step: field.type === 'int' ? '1' : 'any' });
    const min = field.ge ?? field.gt;
    const max = field.le ?? field.lt;
    if (min !== undefined && min !== null) input.min = String(min);
    if (max !== undefined && max !== null) input.max = String(max);
    if (field.default !== null) input.value = String(field.default);
    else input.placeholder = 'auto';
    return input;
  }
  const input = el('input', { ...common, type: 'text', autocomplete: 'off', value: field.default ?? '' });
  if (field.name === 'dataset') input.setAttribute('list', 'datasets');
  return input;
}

function fieldLabel(field, input) {
  const label = field.name.replaceAll('_', ' ');
  const bounds = [field.ge !== undefined && field.ge !== null ? `≥ ${field.ge}` : null,
    field.gt !== undefined && field.gt !== null ? `> ${field.gt}` : null,
    field.le !== undefined && field.le !== null ? `≤ ${field.le}` : null,
    field.lt !== undefined && field.lt !== null ? `< ${field.lt}` : null].filter(Boolean).join(', ');
  const help = `${field.help || ''}${bounds ? ` (${bounds})` : ''}`;
  if (field.type === 'bool') return el('label', { class: 'field bool', title: help }, input, el('span', {}, label));
  const wide = field.type === 'str' && !field.choices ? ' wide' : '';
  return el('label', { class: `field${wide}`, title: help }, el('span', {}, label), input, el('small', { class: 'help' }, help));
}

function buildGroups(container, fields, devices, prefix, openGroups) {
  const groups = new Map();
  for (const field of fields) {
    if (!groups.has(field.group)) groups.set(field.group, []);
    groups.get(field.group).push(field);
  }
  const order = [...MAIN_GROUPS.filter((g) => groups.has(g)), ...[...groups.keys()].filter((g) => !MAIN_GROUPS.includes(g))];
  container.replaceChildren(...order.map((group) => {
    const grid = el('div', { class: 'fields' }, ...groups.get(group).map((field) => fieldLabel(field, fieldInput(field, devices, prefix))));
    return el('details', { class: 'group', open: openGroups(group), dataset: { group } }, el('summary', {}, group), grid);
  }));
}

function setInputs(fields, prefix, values) {
  for (const field of fields) {
    const input = document.getElementById(`${prefix}-${field.name}`);
    if (!input) continue;
    const v = field.name in values ? values[field.name] : field.default;
    if (input.type === 'checkbox') input.checked = Boolean(v);
    else input.value = v === null || v === undefined ? '' : String(v);
    input.classList.remove('invalid');
  }
}

function readInputs(fields, prefix) {
  const config = {};
  for (const field of fields) {
    const input = document.getElementById(`${prefix}-${field.name}`);
    if (!input || input.disabled) continue;
    if (input.type === 'checkbox') {
      config[field.name] = input.checked;
    } else if (input.validity?.badInput) {
      throw new ApiError(422, `${field.name}: not a number`, [{ field: field.name, reason: 'not a number' }]);
    } else if (input.value !== '') {
      const numeric = field.type === 'int' || field.type === 'float' || (field.choices && typeof field.choices[0] === 'number');
      config[field.name] = numeric ? Number(input.value) : input.value;
    } else if (field.optional) {
      config[field.name] = null;
    }
  }
  return config;
}

function showFieldErrors(form, errorBox, error) {
  $$('.invalid', form).forEach((node) => node.classList.remove('invalid'));
  errorBox.textContent = error.message;
  for (const item of error.errors || []) {
    const name = item.field === 'name' ? '__name' : item.field === 'nproc' ? '__nproc' : item.field?.split('.').at(-1);
    const input = form.querySelector(`[name="${CSS.escape(name || '')}"]`);
    if (!input) continue;
    input.classList.add('invalid');
    input.closest('details')?.setAttribute('open', '');
    input.focus();
  }
}

// --- New run ------------------------------------------------------------------------------------------------

const formFields = () => state.schema.fields.filter((f) => !HIDDEN_FIELDS.includes(f.name));

function readForm() {
  const config = readInputs(formFields(), 'cfg');
  for (const [key, v] of Object.entries(config)) if (v === null) delete config[key]; // omitted: the default
  return config;
}

async function startTraining(event) {
  event.preventDefault();
  $('#form-error').textContent = '';
  const button = $('#start');
  button.disabled = true;
  button.dataset.sending = '1';
  button.textContent = 'Loading data and models…';
  try {
    const body = { config: readForm() };
    const name = $('#run-name').value.trim();
    if (name) body.name = name;
    const nproc = Number($('#nproc').value || 1);
    if (nproc > 1) body.nproc = nproc;
    state.followLive = true;
    const status = await sendJSON('POST', '/api/training/start', body);
    say(`started ${status.run}${nproc > 1 ? ` on ${nproc} processes` : ''}`, 'ok');
    $('#run-name').value = '';
    state.status = status;
    if (status.run && state.view !== status.run) openRun(status.run);
  } catch (error) {
    showFieldErrors($('#config-form'), $('#form-error'), error);
  } finally {
    delete button.dataset.sending;
    renderStatus();
  }
}

// --- Training controls --------------------------------------------------------------------------------------

async function control(button, action) {
  button.disabled = true;
  button.dataset.sending = '1';
  try {
    await action();
  } catch (error) {
    say(error.message, 'error');
  } finally {
    delete button.dataset.sending;
    renderStatus();
  }
}

function wireControls() {
  $('#stop').addEventListener('click', () => control($('#stop'), async () => {
    say('stopping after the current step (a checkpoint is written)…');
    state.status = await sendJSON('POST', '/api/training/stop?wait_s=0');
  }));
  $('#pause').addEventListener('click', () => control($('#pause'), async () => {
    const action = $('#pause').dataset.action;
    say(action === 'pause' ? 'pausing at the next step boundary…' : 'continuing…');
    state.status = await sendJSON('POST', `/api/training/${action}?wait_s=10`);
    say(action === 'pause' ? `paused at step ${integer(state.status.step)}` : 'running', 'ok');
  }));
  $$('#step-row button').forEach((button) => button.addEventListener('click', () => control(button, async () => {
    const part = button.dataset.part;
    const result = await sendJSON('POST', '/api/training/step?wait_s=30', { part });
    state.status = result.status;
    const v = result.metrics?.values || {};
    const shown = ['loss_D', 'loss_G', 'D_x', 'D_G_z'].filter((k) => v[k] !== undefined && v[k] !== null)
      .map((k) => `${LABELS[k]} ${value(v[k])}`).join(' · ');
    $('#step-result').textContent = `${button.textContent} → step ${integer(result.status.step)}${shown ? `: ${shown}` : ''}`;
    if (result.metrics && result.metrics.run === state.view) addPoint(result.metrics.step, result.metrics.values);
    if (result.sample_url && result.status.run === state.view) addSample(result.metrics?.step ?? result.status.step);
  })));
  $('#save-checkpoint').addEventListener('click', () => control($('#save-checkpoint'), async () => {
    const saved = await sendJSON('POST', '/api/training/checkpoint');
    say(`saved ${saved.checkpoint} (step ${integer(saved.step)})`, 'ok');
  }));
  $('#resume').addEventListener('click', () => control($('#resume'), async () => {
    const body = { run: state.view };
    const steps = $('#resume-steps').value;
    if (steps) body.steps = Number(steps);
    state.followLive = true;
    say(`resuming ${state.view}…`);
    const status = await sendJSON('POST', '/api/training/resume', body);
    say(`resumed ${status.run} at step ${integer(status.step)}`, 'ok');
  }));
  $('#fork').addEventListener('click', openFork);
  $('#go-live').addEventListener('click', () => openRun(state.status.run));
  $('#refresh-runs').addEventListener('click', refreshRuns);
}

// --- Live hyperparameters -----------------------------------------------------------------------------------

const liveNames = () => state.schema.live_fields || LIVE_FIELDS;
const liveFields = () => liveNames().map((name) => state.schema.fields.find((f) => f.name === name)).filter(Boolean);

function buildSteer() {
  const form = $('#hparam-form');
  form.replaceChildren(...liveFields().map((field) => {
    const input = fieldInput({ ...field, choices: null }, {}, 'live');
    input.disabled = true;
    return fieldLabel(field, input);
  }));
}

async function loadHyperparameters() {
  try {
    state.hparams = await getJSON('/api/training/hyperparameters');
  } catch {
    state.hparams = null;
  }
  renderSteer();
}

// The editor shows the live run's current values; any other run shows its config and its change history.
function renderSteer() {
  const live = isLiveView() && state.hparams;
  // The server resolves both: the live trainer's values, or the viewed run's (choices, changes, defaults).
  const values = live ? state.hparams.values : state.detail?.resolved || {};
  const changes = live ? state.hparams.changes : state.detail?.changes || [];
  for (const field of liveFields()) {
    const input = document.getElementById(`live-${field.name}`);
    if (!input || document.activeElement === input) continue;
    const v = values[field.name];
    input.value = v === null || v === undefined ? '' : String(v);
    input.dataset.current = input.value;
    input.classList.remove('invalid', 'edited');
  }
  $('#changes').replaceChildren(...(changes.length ? changes.map((c) => el('li', {},
    `after step ${integer(c.step)}: `, el('code', {}, c.field), ` ${value(c.old)} → ${value(c.new)}`))
    : [el('li', { class: 'empty' }, 'none yet')]));
  renderSteerState();
}

function renderSteerState() {
  const editable = isLiveActive() && state.status.state !== 'starting' && (state.status.nproc || 1) === 1;
  $$('#hparam-form input').forEach((input) => { input.disabled = !editable; });
  $('#hparam-apply').disabled = !editable;
  $('#steer-hint').textContent = editable ? `in effect from the next step of ${state.status.run}`
    : state.view ? 'the viewed run is not training: its values and changes' : 'while a run trains';
}

async function applyHyperparameters(event) {
  event.preventDefault();
  $('#hparam-error').textContent = '';
  const changes = {};
  try {
    for (const field of liveFields()) {
      const input = document.getElementById(`live-${field.name}`);
      if (input.value === input.dataset.current) continue;
      if (input.value === '' || input.validity.badInput) {
        throw new ApiError(422, `${field.name}: give a number`, [{ field: field.name, reason: 'give a number' }]);
      }
      changes[field.name] = Number(input.value);
    }
    if (!Object.keys(changes).length) {
      $('#hparam-error').textContent = 'nothing changed: edit a value first';
      return;
    }
    state.hparams = await sendJSON('PATCH', '/api/training/hyperparameters', { changes });
    say(`changed ${Object.entries(changes).map(([k, v]) => `${k} = ${v}`).join(', ')} from the next step`, 'ok');
    for (const field of liveFields()) {
      const input = document.getElementById(`live-${field.name}`);
      input.dataset.current = ''; // the answer's values replace what was typed
    }
    renderSteer();
  } catch (error) {
    showFieldErrors($('#hparam-form'), $('#hparam-error'), error);
  }
}

// --- Fork ---------------------------------------------------------------------------------------------------

const NOW = '__now__'; // the fork dialog's "stop the live run here and fork from this step"

const forkFields = () => {
  const fixed = state.schema.fork_fixed || FORK_FIXED;
  return state.schema.fields.filter((f) => !fixed.includes(f.name) && !HIDDEN_FIELDS.includes(f.name));
};

async function openFork() {
  const name = state.view;
  if (!name) return;
  $('#fork-error').textContent = '';
  const live = isLiveActive();
  try {
    state.detail = state.detail?.summary?.name === name && !live ? state.detail : await getJSON(runPath(name));
  } catch (error) {
    say(error.message, 'error');
    return;
  }
  const detail = state.detail;
  $('#fork-parent').textContent = name;
  const checkpoints = detail.checkpoints.filter((c) => c.step !== null);
  $('#fork-checkpoint').replaceChildren(
    live ? el('option', { value: NOW }, `now (step ${integer(state.status.step)}): stop ${name} here`) : null,
    ...checkpoints.slice().reverse().map((c) => el('option', { value: c.name }, `step ${integer(c.step)}${c.last ? ' (last)' : ''}`)));
  $('#fork-checkpoint').value = live ? NOW : checkpoints.at(-1)?.name || '';
  const names = liveNames();
  const fields = forkFields();
  buildGroups($('#fork-fields'), fields, {}, 'fork', (group) => group === 'length'
    || fields.some((f) => f.group === group && names.includes(f.name)));
  fillFork();
  $('#fork-dialog').showModal();
}

// The parent's chosen options at the chosen checkpoint, live changes included ("now": its newest), as the
// server's fork starts from them.
function forkBase() {
  const detail = state.detail;
  return detail.checkpoints.find((c) => c.name === $('#fork-checkpoint').value)?.options || detail.options;
}

function fillFork() {
  const base = forkBase();
  setInputs(forkFields(), 'fork', base);
  for (const field of forkFields()) {
    const input = document.getElementById(`fork-${field.name}`);
    if (input) input.dataset.base = input.type === 'checkbox' ? String(input.checked) : input.value;
  }
}

async function startFork(event) {
  event.preventDefault();
  $('#fork-error').textContent = '';
  const changes = {};
  try {
    const values = readInputs(forkFields(), 'fork');
    for (const field of forkFields()) {
      const input = document.getElementById(`fork-${field.name}`);
      const now = input.type === 'checkbox' ? String(input.checked) : input.value;
      if (now !== input.dataset.base) changes[field.name] = values[field.name] ?? null;
    }
    const body = { run: state.view, checkpoint: $('#fork-checkpoint').value || null, changes };
    const name = $('#fork-name').value.trim();
    if (name) body.name = name;
    if (body.checkpoint === NOW) {
      // Stop the live run where it is (it writes a checkpoint of that step), then fork from that checkpoint.
      $('#fork-error').textContent = `stopping ${body.run} to fork it…`;
      const stopped = await sendJSON('POST', '/api/training/stop?wait_s=60');
      state.status = stopped;
      body.checkpoint = `step-${String(stopped.step).padStart(7, '0')}.pt`;
    }
    state.followLive = true;
    const status = await sendJSON('POST', '/api/training/fork', body);
    $('#fork-dialog').close();
    $('#fork-name').value = '';
    say(`forked ${body.run} into ${status.run}${Object.keys(changes).length ? ` with ${Object.entries(changes).map(([k, v]) => `${k} = ${v}`).join(', ')}` : ''}`, 'ok');
    if (status.run) openRun(status.run);
    refreshRuns();
  } catch (error) {
    showFieldErrors($('#fork-form'), $('#fork-error'), error);
  }
}

function wireFork() {
  $('#fork-form').addEventListener('submit', startFork);
  $('#fork-cancel').addEventListener('click', () => $('#fork-dialog').close());
  $('#fork-checkpoint').addEventListener('change', fillFork);
}

// --- Evaluation: eval.json of `dcgan eval`, and the eval/* metrics of --eval-every during training ---------

async function loadEval(name) {
  const run = state.runs.find((r) => r.name === name);
  try {
    // Only runs that `dcgan eval` has scored have an eval.json to fetch.
    state.evaluation = run && run.evaluated ? await getJSON(`${runPath(name)}/eval`) : null;
  } catch {
    state.evaluation = null;
  }
  if (state.view === name) renderEval();
}

const evalKeys = () => Object.keys(state.series).filter((k) => k.startsWith('eval/') && k !== 'eval/seconds'
  && state.series[k].length);

function renderEval() {
  const keys = evalKeys();
  const box = $('#eval-chart-box');
  box.hidden = !keys.length;
  if (keys.length) {
    // FID on the left axis; the numbers in [0, 1] and the rest on the right.
    const shown = keys.filter((k) => EVAL_COLORS[k.slice(5)]);
    charts.eval.data.datasets = shown.map((k) => ({
      ...dataset(EVAL_ROWS.find(([key]) => key === k.slice(5))?.[1] || k.slice(5), state.series[k], EVAL_COLORS[k.slice(5)]),
      yAxisID: k === 'eval/fid' ? 'y' : 'y1', pointRadius: 3,
    }));
    charts.eval.canvas.dataset.points = String(Math.max(...shown.map((k) => state.series[k].length), 0));
    charts.eval.update('none');
  }
  const report = state.evaluation;
  const latest = {};
  for (const k of keys) latest[k.slice(5)] = state.series[k].at(-1).y;
  const latestStep = keys.length ? Math.max(...keys.map((k) => state.series[k].at(-1).x)) : null;
  const metrics = report?.metrics || latest;
  const rows = EVAL_ROWS.filter(([key]) => typeof metrics[key] === 'number').map(([key, label]) => {
    let text = value(metrics[key]);
    if (key === 'kid' && metrics.kid_std !== undefined) text += ` ± ${value(metrics.kid_std)}`;
    if (key === 'is' && metrics.is_std !== undefined) text += ` ± ${value(metrics.is_std)}`;
    if (key === 'classes_covered' && metrics.num_classes) text += ` / ${metrics.num_classes}`;
    if (key === 'copies') text = `${(metrics[key] * 100).toFixed(2)} %`;
    return el('tr', { dataset: { metric: key } }, el('th', {}, label), el('td', {}, text));
  });
  $('#eval-table tbody').replaceChildren(...rows);
  $('#eval-empty').hidden = rows.length > 0;
  $('#eval-source').textContent = report
    ? `dcgan eval · ${integer(report.samples)} samples · ${report.features?.name || report.features?.space || ''}${report.source?.step !== undefined ? ` · step ${integer(report.source.step)}` : ''}`
    : latestStep !== null ? `during training · step ${integer(latestStep)}` : '';
}

// --- Architecture -------------------------------------------------------------------------------------------

async function loadArchitecture(name) {
  try {
    state.architecture = await getJSON(`${runPath(name)}/architecture`);
    $('#arch-source').textContent = name;
  } catch (error) {
    state.architecture = null;
    $('#arch-source').textContent = error.message;
  }
  renderArchitecture();
}

async function previewArchitecture() {
  try {
    state.architecture = await sendJSON('POST', '/api/config/architecture', { config: readForm() });
    $('#arch-source').textContent = 'from the form';
    $('#form-error').textContent = '';
    renderArchitecture();
    showTab('model');
    $('.arch-card').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  } catch (error) {
    showFieldErrors($('#config-form'), $('#form-error'), error);
  }
}

function renderArchitecture() {
  const network = state.architecture?.[state.network];
  $$('#arch-switch button').forEach((button) => {
    button.setAttribute('aria-selected', String(button.dataset.net === state.network));
  });
  $('#arch-table tbody').replaceChildren(...(network?.layers || []).map((layer) => el('tr', {},
    el('td', {}, layer.name), el('td', {}, layer.kind), el('td', {}, layer.output_shape.join('×')),
    el('td', { class: 'num' }, layer.params ? integer(layer.params) : '–'))));
  $('#arch-total').textContent = network ? integer(network.params) : '–';
}

// --- Reproducibility record ---------------------------------------------------------------------------------

async function loadRecord(name) {
  const box = $('#record');
  try {
    const record = await getJSON(`${runPath(name)}/record`);
    if (state.view !== name) return;
    $('#record-source').textContent = name;
    box.replaceChildren(...renderRecord(record));
  } catch (error) {
    if (state.view !== name) return;
    $('#record-source').textContent = '';
    box.replaceChildren(el('p', { class: 'empty-note' }, error.status === 404 ? `${name} has no run.json (made by an older version)` : error.message));
  }
}

function kv(pairs) {
  return el('dl', { class: 'kv-list' }, ...pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function renderRecord(record) {
  const sessions = record.sessions || [];
  const first = sessions[0] || {};
  const parts = [kv([
    ['seed', value(record.seed)],
    ['parent', record.parent ? `${record.parent.run.split('/').at(-1)} at step ${integer(record.parent.step)}` : 'none (a new run)'],
    ['dataset', first.dataset ? `${first.dataset.name} · ${integer(first.dataset.images)} images` : undefined],
    ['fingerprint', first.dataset ? el('code', { class: 'fingerprint' }, String(first.dataset.fingerprint)) : undefined],
  ])];
  sessions.forEach((session, i) => {
    const versions = Object.entries(session.versions || {}).map(([k, v]) => `${k} ${v}`).join(' · ');
    const determinism = Object.entries(session.determinism || {}).map(([k, v]) => `${k}: ${value(v)}`).join(' · ');
    const body = kv([
      ['started', session.started],
      ['from step', integer(session.from_step)],
      ['device', `${session.device}${session.processes > 1 ? ` × ${session.processes} processes` : ''}`],
      ['versions', versions],
      ['determinism', determinism],
      ['command', el('code', { class: 'command' }, String(session.command || ''))],
    ]);
    parts.push(el('details', { class: 'session', open: i === sessions.length - 1 },
      el('summary', {}, `session ${i + 1} of ${sessions.length}${i === 0 ? '' : ' (resumed)'}`), body));
  });
  return parts;
}

// --- Tabs ---------------------------------------------------------------------------------------------------

function showTab(name) {
  $$('.tabs [role="tab"]').forEach((tab) => tab.setAttribute('aria-selected', String(tab.dataset.tab === name)));
  $$('.panel').forEach((panel) => { panel.hidden = panel.id !== `panel-${name}`; });
  emit('tab', name);
  if (name === 'training') drawCharts();
}

// --- Start-up -----------------------------------------------------------------------------------------------

async function loadForm() {
  const [schema, devices, datasets] = await Promise.all([
    getJSON('/api/config/schema'), getJSON('/api/system/devices'), getJSON('/api/system/datasets')]);
  state.schema = schema;
  const names = {};
  for (const d of devices.devices) names[d.device] = d.name;
  buildGroups($('#config-fields'), formFields(), names, 'cfg', (group) => MAIN_GROUPS.includes(group));
  state.datasets = datasets.datasets;
  const list = el('datalist', { id: 'datasets' }, ...datasets.datasets.map((d) => el('option', { value: d.name },
    `${d.summary} — ${d.path ? `available offline (${d.path})` : `not here: \`dcgan fetch ${d.name}\` or a download`}`)));
  document.body.append(list);
  const preset = $('#preset');
  for (const name of Object.keys(schema.presets)) preset.append(el('option', { value: name }, name));
  preset.addEventListener('change', () => setInputs(formFields(), 'cfg', schema.presets[preset.value] || {}));
  buildSteer();
  renderSteer();
  document.body.dataset.ready = '1';
}

function init() {
  charts.loss = makeChart($('#chart-loss'), { title: { display: true, text: 'loss', color: '#667085' } });
  charts.d = makeChart($('#chart-d'), { min: 0, max: 1, title: { display: true, text: 'probability "real"', color: '#667085' } });
  charts.ratio = makeChart($('#chart-ratio'), { type: 'logarithmic', title: { display: true, text: 'loss_G / loss_D (log)', color: '#667085' } });
  charts.eval = makeChart($('#chart-eval'), { title: { display: true, text: 'FID', color: '#667085' } });
  charts.eval.options.scales.y1 = { position: 'right', grid: { drawOnChartArea: false }, min: 0 };
  rebuildCharts();
  $('#sample-slider').addEventListener('input', () => {
    $('#sample-follow').checked = $('#sample-slider').value === $('#sample-slider').max;
    showSample();
  });
  $('#sample-follow').addEventListener('change', updateSlider);
  $$('#arch-switch button').forEach((button) => button.addEventListener('click', () => {
    state.network = button.dataset.net;
    renderArchitecture();
  }));
  $$('.tabs [role="tab"]').forEach((tab) => tab.addEventListener('click', () => showTab(tab.dataset.tab)));
  $('#config-form').addEventListener('submit', startTraining);
  $('#preview-arch').addEventListener('click', previewArchitecture);
  $('#hparam-form').addEventListener('submit', applyHyperparameters);
  $('#hparam-form').addEventListener('input', (event) => {
    event.target.classList.toggle('edited', event.target.value !== event.target.dataset.current);
  });
  wireControls();
  wireFork();
  initCompare();
  initGenerate();
  initExport();
  on('open-run', (name) => { openRun(name); showTab('training'); });
  on('compare-changed', renderRuns);
  renderStatus();
  loadBands().catch((error) => { $('#ratio-bands').textContent = `could not load the bands: ${error.message}`; });
  loadForm().catch((error) => { $('#form-error').textContent = `could not load the options: ${error.message}`; });
  refreshRuns();
  connect();
}

init();
