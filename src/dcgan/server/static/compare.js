// Side by side: the runs ticked in the run list, their curves overlaid by step (one colour per run; solid for
// loss_D and D(x), dashed for loss_G and D(G(z))) and their fixed-noise grids at matched steps.

import { $, el, getJSON, integer, thinned, SampleSteps } from './util.js';
import { CHARTS, RUN_COLORS, PROBABILITY_TITLE, SCORE_TITLE, label, objective, makeChart, dataset, resmooth, toSeries,
  runStart, MUTED } from './charts.js';
import { state, on, emit } from './state.js';

const COMPARED = ['loss', 'd']; // of the viewed run's charts (CHARTS), the ones overlaid here
const charts = {};
let steps = []; // the union of the compared runs' sample steps, thinned afresh to the server's bound (their limit)
let sampleSteps = new Map(); // run -> its SampleSteps (GET /api/runs/{name}/samples, then its live grids)
let visible = false;

const names = () => [...state.compare.keys()];
const query = (extra = {}) => {
  const params = new URLSearchParams();
  for (const name of names()) params.append('runs', name);
  for (const [k, v] of Object.entries(extra)) params.set(k, String(v));
  return params;
};

async function toggle({ name, on: ticked }) {
  if (!ticked) {
    state.compare.delete(name);
  } else if (!state.compare.has(name)) {
    const used = new Set([...state.compare.values()].map((run) => run.color));
    const color = RUN_COLORS.find((c) => !used.has(c)) || RUN_COLORS[state.compare.size % RUN_COLORS.length];
    state.compare.set(name, { color, series: {} });
  }
  emit('compare-changed');
  await reload();
}

async function reload() {
  renderChips();
  if (!state.compare.size) {
    sampleSteps = new Map();
    render();
    return;
  }
  try {
    const [metrics, ...samples] = await Promise.all([
      getJSON(`/api/compare/metrics?${query({ max_points: 2000 })}`),
      ...names().map((name) => getJSON(`/api/runs/${encodeURIComponent(name)}/samples`).then((s) => [name, new SampleSteps(s)]))]);
    for (const entry of metrics.runs) {
      const run = state.compare.get(entry.run);
      if (run) run.series = toSeries(entry.metrics);
    }
    sampleSteps = new Map(samples);
    $('#compare-hint').textContent = state.compare.size < 2 ? 'Tick one more run to compare.' : `${state.compare.size} runs`;
  } catch (error) {
    $('#compare-hint').textContent = `could not load: ${error.message}`;
  }
  render();
}

function renderChips() {
  const count = $('#compare-count');
  count.hidden = !state.compare.size;
  count.textContent = String(state.compare.size);
  const chips = $('#compare-chips');
  chips.replaceChildren(...[...state.compare].map(([name, run]) => {
    const remove = el('button', { type: 'button', class: 'chip-x', title: `stop comparing ${name}`, 'aria-label': `remove ${name}` }, '×');
    remove.addEventListener('click', () => toggle({ name, on: false }));
    const open = el('button', { type: 'button', class: 'chip-name', title: `open ${name} in the Training tab` }, name);
    open.addEventListener('click', () => emit('open-run', name));
    return el('span', { class: 'chip', dataset: { run: name } }, el('span', { class: 'swatch', style: `background:${run.color}` }), open, remove);
  }));
  if (!state.compare.size) $('#compare-hint').textContent = 'Tick two or more runs in the run list.';
}

function render() {
  for (const key of COMPARED) {
    const metrics = CHARTS[key];
    const datasets = [];
    for (const [name, run] of state.compare) {
      metrics.forEach((metric, i) => datasets.push({ ...dataset(`${name} · ${label(metric)}`, [], run.color, i > 0), run: name, metric }));
    }
    charts[key].data.datasets = datasets;
    charts[key].options.scales.x.min = state.compare.size ? Math.min(...names().map(runStart)) : 0;
    resmooth(charts[key], comparedSeries);
    charts[key].canvas.dataset.runs = String(state.compare.size);
  }
  renderObjectives();
  for (const key of COMPARED) if (visible) charts[key].update('none');
  const all = new Set();
  for (const run of sampleSteps.values()) run.steps.forEach((s) => all.add(s));
  const previous = steps[Number($('#compare-slider').value)];
  steps = thinned([...all].sort((a, b) => a - b), Math.min(...[...sampleSteps.values()].map((run) => run.limit)));
  const slider = $('#compare-slider');
  slider.max = String(Math.max(0, steps.length - 1));
  // Start at the newest grid of the run that got least far (every run has one there or near it), else keep the
  // chosen step.
  const reached = Math.min(...[...sampleSteps.values()].filter((run) => run.count).map((run) => run.last));
  const wanted = previous !== undefined && steps.includes(previous) ? previous : steps.findLast((s) => s <= reached) ?? steps.at(-1);
  slider.value = String(Math.max(0, steps.indexOf(wanted)));
  showGrids();
}

// The axis says what D(x) and D(G(z)) are: probabilities where every compared run's objective makes them so, the
// sigmoid of a score where none does; the note names the runs whose curves are scores (their W distance, for
// wgan-gp, is on the Training tab).
function renderObjectives() {
  const scored = names().map((name) => [name, state.runs.find((run) => run.name === name)?.loss])
    .filter(([, loss]) => objective(loss)?.probabilities === false);
  const title = !scored.length ? PROBABILITY_TITLE : scored.length === state.compare.size ? SCORE_TITLE
    : `${PROBABILITY_TITLE} or ${SCORE_TITLE}`;
  charts.d.options.scales.y.title.text = title;
  charts.d.canvas.dataset.scored = scored.map(([name]) => name).join(' ');
  const note = $('#compare-d-note');
  note.hidden = !scored.length;
  note.textContent = scored.length ? `The sigmoid of D's score, not a probability, for ${
    scored.map(([name, loss]) => `${name} (--loss ${loss})`).join(', ')}.` : '';
}

// A compared run's objective (the runs list) or the objectives' traits (the schema) may arrive after its curves.
function relabel() {
  renderObjectives();
  if (visible) charts.d.update('none');
}

// The compared curves are smoothed as the Training tab's (one line per run and metric: no faint lines here).
const comparedSeries = (set) => state.compare.get(set.run)?.series[set.metric] || [];

function redraw() {
  for (const chart of Object.values(charts)) {
    resmooth(chart, comparedSeries);
    chart.update('none');
  }
}

let gridRequest = 0;
async function showGrids() {
  const box = $('#compare-grids');
  const step = steps[Number($('#compare-slider').value)];
  if (step === undefined || !state.compare.size) {
    $('#compare-step').textContent = '–';
    box.replaceChildren(el('p', { class: 'empty-note' }, state.compare.size ? 'No sample grids yet.' : 'No runs ticked.'));
    return;
  }
  $('#compare-step').textContent = `step ${integer(step)}`;
  const request = ++gridRequest;
  try {
    const answer = await getJSON(`/api/compare/samples?${query({ step })}`);
    if (request !== gridRequest) return;
    box.replaceChildren(...answer.samples.map((sample) => {
      const run = state.compare.get(sample.run);
      const exact = sample.step === step;
      const caption = el('figcaption', {}, el('span', { class: 'swatch', style: `background:${run?.color || '#999'}` }), sample.run,
        el('span', { class: 'hint' }, sample.step === null ? ' · no grid' : ` · step ${integer(sample.step)}${exact ? '' : ' (nearest)'}`));
      const frame = el('div', { class: 'sample-frame' }, sample.url
        ? el('img', { src: sample.url, alt: `${sample.run} at step ${sample.step}`, dataset: { run: sample.run, step: String(sample.step) } })
        : el('p', { class: 'empty' }, 'no grid'));
      return el('figure', { class: 'compare-grid', dataset: { run: sample.run } }, frame, caption);
    }));
  } catch (error) {
    box.replaceChildren(el('p', { class: 'empty-note' }, error.message));
  }
}

const COMPARE_EMPTY = 'Tick runs in the run list to overlay their curves.';

export function initCompare() {
  charts.loss = makeChart($('#compare-loss'), { title: { display: true, text: 'loss', color: MUTED } }, { legend: false, empty: COMPARE_EMPTY });
  charts.d = makeChart($('#compare-d'), { min: 0, max: 1, title: { display: true, text: PROBABILITY_TITLE, color: MUTED } }, { legend: false, empty: COMPARE_EMPTY });
  $('#compare-slider').addEventListener('input', showGrids);
  on('compare-toggle', toggle);
  on('tab', (name) => {
    visible = name === 'compare';
    if (visible) {
      reload();
    }
  });
  // A compared run that is training: its curves and grids grow here too.
  on('live-metrics', (message) => {
    const run = state.compare.get(message.run);
    if (!run) return;
    for (const [name, y] of Object.entries(message.values)) {
      if (y === null || y === undefined) continue;
      const points = (run.series[name] ??= []);
      if (!points.length || points.at(-1).x < message.step) points.push({ x: message.step, y });
    }
    if (visible) redraw();
  });
  on('smoothing', () => { if (visible) redraw(); });
  on('sample', (message) => {
    if (!state.compare.has(message.run)) return;
    if (!sampleSteps.has(message.run)) sampleSteps.set(message.run, new SampleSteps());
    sampleSteps.get(message.run).add(message.step);
    const atEnd = Number($('#compare-slider').value) === steps.length - 1;
    if (visible && atEnd) render();
  });
  on('runs', (runs) => {
    // Runs deleted from the folder leave the comparison.
    const present = new Set(runs.map((r) => r.name));
    let changed = false;
    for (const name of names()) if (!present.has(name)) { state.compare.delete(name); changed = true; }
    if (changed) { emit('compare-changed'); reload(); } else relabel();
  });
  on('schema', relabel);
}
