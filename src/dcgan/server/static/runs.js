// Which run the page views: opening one (its history, grids and details, then live points that came meanwhile),
// and the runs list, the family tree of forks with the boxes that tick runs for Side by side.

import { $, el, getJSON, runPath, integer, say, revealViewedRun } from './util.js';
import { toSeries } from './charts.js';
import { state, ACTIVE, emit, liveStarting } from './state.js';
import { rebuildCharts, addPoint, addMark, setSamples, addSample, renderStatus, loadLog } from './training.js';
import { loadEval, renderEval, loadArchitecture, loadRecord } from './record.js';
import { renderSteer } from './steer.js';

// --- The viewed run -----------------------------------------------------------------------------------------

export function showRun(name, metrics, samples) {
  const changed = state.view !== name;
  state.view = name;
  state.series = toSeries(metrics);
  state.marks = [...(metrics.hparams || [])];
  if (changed) loadLog(name); // and its warnings
  rebuildCharts();
  setSamples(samples);
  renderStatus();
  renderRuns();
  renderEval();
  if ((changed || state.detailsFor !== name) && !liveStarting(name)) loadViewDetails(name);
  emit('view', name);
}

export async function openRun(name) {
  state.followLive = name === state.status.run;
  if (liveStarting(name)) {
    showRun(name, { step: [], series: {} }, { steps: [], count: 0 });
    return;
  }
  const waiting = { name, points: [], samples: [], marks: [] };
  state.loading = waiting;
  try {
    const [metrics, samples] = await Promise.all([
      getJSON(`${runPath(name)}/metrics?max_points=2000`), getJSON(`${runPath(name)}/samples`)]);
    if (state.loading !== waiting) return; // opened again meanwhile: the later call shows it
    state.loading = null;
    showRun(name, metrics, samples);
    for (const point of waiting.points) addPoint(point.step, point.values);
    for (const step of waiting.samples) addSample(step);
    for (const mark of waiting.marks) addMark(mark);
  } catch (error) {
    if (state.loading !== waiting) return;
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
  emit('details', name);
  renderSteer();
  renderStatus();
}

// --- Runs list: the family tree of forks, and the runs ticked for side by side --------------------------------

export async function refreshRuns() {
  try {
    state.runs = (await getJSON('/api/runs')).runs;
  } catch (error) {
    say(`could not list runs: ${error.message}`, 'error');
    return;
  }
  renderRuns();
  renderStatus();
  emit('runs', state.runs);
  // The viewed run's evaluation, when the list says otherwise than when it was loaded: the page opened the live run
  // before the list came (so it did not know of its eval.json), or `dcgan eval` wrote one since (Refresh).
  const viewed = state.runs.find((r) => r.name === state.view);
  if (viewed && state.evaluationOf?.name === viewed.name && state.evaluationOf.evaluated !== viewed.evaluated) {
    loadEval(viewed.name);
  }
  if (!state.view && state.runs.length && !ACTIVE.includes(state.status.state)) openRun(state.runs[0].name);
}

export function updateRunCounts(name) {
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

// A run's row is built again only when what it shows changed, and rows are moved only when the order changed: the
// page renders the list on every status change and open, and a rebuilt row lost the keyboard focus of the button
// just pressed (and a click landing while the list was rebuilt met a button no longer in the page).
let rows = new Map(); // run name -> { shown, li }: the rows of the last render

export function renderRuns() {
  const list = $('#run-list');
  if (!state.runs.length) {
    rows.clear();
    list.replaceChildren(el('li', {}, el('span', { class: 'empty' }, 'No runs yet in this runs folder.')));
    return;
  }
  const kept = new Map();
  const wanted = familyOrder(state.runs).map(({ run, depth }) => {
    const status = run.active ? state.status.state : run.status || 'unknown';
    const compared = state.compare.get(run.name);
    const shown = JSON.stringify([depth, compared?.color, run.parent, runMeta(run), status, run.broken, run.message]);
    let row = rows.get(run.name);
    if (row?.shown !== shown) {
      row = { shown, li: runRow(run, depth, compared, status) };
    }
    kept.set(run.name, row);
    row.li.classList.toggle('viewing', run.name === state.view);
    return row.li;
  });
  rows = kept; // a run gone from the list leaves with its row
  const now = [...list.children];
  if (now.length !== wanted.length || now.some((li, i) => li !== wanted[i])) list.replaceChildren(...wanted);
}

function runRow(run, depth, compared, status) {
  const box = el('input', { type: 'checkbox', checked: Boolean(compared), title: 'compare side by side',
    'aria-label': `compare ${run.name}` });
  box.addEventListener('change', () => emit('compare-toggle', { name: run.name, on: box.checked }));
  const open = el('button', { type: 'button', class: 'open', title: `open ${run.name}` },
    el('span', { class: 'name' },
      compared ? el('span', { class: 'swatch', style: `background:${compared.color}` }) : null,
      depth ? el('span', { class: 'fork-mark', 'aria-hidden': 'true' }, '↳ ') : null, run.name),
    run.parent ? el('span', { class: 'meta lineage' }, `fork of ${run.parent.run.split('/').at(-1)} at step ${integer(run.parent.step)}`) : null,
    el('span', { class: 'meta', dataset: { run: run.name } }, runMeta(run)));
  open.addEventListener('click', async () => { await openRun(run.name); revealViewedRun(); });
  return el('li', {
    class: depth ? 'child' : '',
    style: depth ? `--depth:${Math.min(depth, 4)}` : null,
    dataset: { run: run.name, depth: String(depth), parent: run.parent?.run?.split('/').at(-1) || '' },
  }, box, open, el('span', { class: 'pill', dataset: { state: status }, title: run.broken || run.message || null },
    status));
}

function runMeta(run) {
  const step = run.active ? state.status.step : run.step; // status.json is written on status changes only
  const progress = step !== null && step !== undefined && run.total_steps ? `${integer(step)}/${integer(run.total_steps)} steps` : '';
  return [run.dataset, run.image_size ? `${run.image_size}px` : null, run.conditional ? 'conditional' : null, progress]
    .filter(Boolean).join(' · ');
}

export function updateActiveRunMeta() {
  const run = state.runs.find((r) => r.active);
  const meta = run && document.querySelector(`.run-list .meta[data-run="${CSS.escape(run.name)}"]`);
  if (meta) meta.textContent = runMeta(run);
}

export function initRuns() {
  $('#go-live').addEventListener('click', () => openRun(state.status.run));
  $('#refresh-runs').addEventListener('click', refreshRuns);
}
