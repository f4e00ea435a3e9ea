// The viewed run's evaluation (eval.json of `dcgan eval`, and the eval/* metrics of --eval-every during
// training), its networks' layers and its reproducibility record (run.json).

import { $, $$, el, getJSON, runPath, integer, value, plusMinus } from './util.js';
import { makeChart, dataset, MUTED } from './charts.js';
import { state } from './state.js';

// Numbers of an evaluation, in the order a table shows them (dcgan.metrics.evaluate.ROWS).
const EVAL_ROWS = [['fid', 'FID'], ['kid', 'KID'], ['precision', 'precision'], ['recall', 'recall'],
  ['is', 'IS'], ['classes_covered', 'classes covered'], ['class_kl', 'class KL'], ['diversity', 'diversity'],
  ['nn_ratio', 'nearest-neighbour ratio'], ['copies', 'copies']];
const EVAL_COLORS = { fid: '#4f46e5', kid: '#e4572e', precision: '#12a37f', recall: '#d4a017', diversity: '#8e44ad' };

let evalChart;

// --- Evaluation ---------------------------------------------------------------------------------------------

export async function loadEval(name) {
  const run = state.runs.find((r) => r.name === name);
  state.evaluationOf = { name, evaluated: Boolean(run?.evaluated) }; // refreshRuns loads it again when this changes
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

export function renderEval() {
  const keys = evalKeys();
  const box = $('#eval-chart-box');
  box.hidden = !keys.length;
  if (keys.length) {
    // FID on the left axis; the numbers in [0, 1] and the rest on the right.
    const shown = keys.filter((k) => EVAL_COLORS[k.slice(5)]);
    evalChart.data.datasets = shown.map((k) => ({
      ...dataset(EVAL_ROWS.find(([key]) => key === k.slice(5))?.[1] || k.slice(5), state.series[k], EVAL_COLORS[k.slice(5)]),
      yAxisID: k === 'eval/fid' ? 'y' : 'y1', pointRadius: 3,
    }));
    evalChart.canvas.dataset.points = String(Math.max(...shown.map((k) => state.series[k].length), 0));
    evalChart.update('none');
  }
  const report = state.evaluation;
  const latest = {};
  for (const k of keys) latest[k.slice(5)] = state.series[k].at(-1).y;
  const latestStep = keys.length ? Math.max(...keys.map((k) => state.series[k].at(-1).x)) : null;
  const metrics = report?.metrics || latest;
  const rows = EVAL_ROWS.filter(([key]) => typeof metrics[key] === 'number').map(([key, label]) => {
    let text = value(metrics[key]);
    if (key === 'kid' && typeof metrics.kid_std === 'number') text = plusMinus(metrics.kid, metrics.kid_std);
    if (key === 'is' && typeof metrics.is_std === 'number') text = plusMinus(metrics.is, metrics.is_std);
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

export async function loadArchitecture(name) {
  try {
    state.architecture = await getJSON(`${runPath(name)}/architecture`);
    $('#arch-source').textContent = name;
  } catch (error) {
    state.architecture = null;
    $('#arch-source').textContent = error.message;
  }
  renderArchitecture();
}

export function renderArchitecture() {
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

// Answers can come back out of order (a run that stops and is resumed asks twice in a second): the latest asked wins,
// or a slow answer about the stopped run would overwrite the resumed session's record.
let asked = 0;

export async function loadRecord(name) {
  const box = $('#record');
  const ask = ++asked;
  try {
    const record = await getJSON(`${runPath(name)}/record`);
    if (state.view !== name || ask !== asked) return;
    $('#record-source').textContent = name;
    box.replaceChildren(...renderRecord(record));
  } catch (error) {
    if (state.view !== name || ask !== asked) return;
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
      ['command', el('code', { class: 'command', tabindex: '0' }, String(session.command || ''))],
    ]);
    parts.push(el('details', { class: 'session', open: i === sessions.length - 1 },
      el('summary', {}, `session ${i + 1} of ${sessions.length}${i === 0 ? '' : ' (resumed)'}`), body));
  });
  return parts;
}

export function initRecord() {
  evalChart = makeChart($('#chart-eval'), { title: { display: true, text: 'FID', color: MUTED } });
  evalChart.options.scales.y1 = { position: 'right', grid: { drawOnChartArea: false }, min: 0 };
  $$('#arch-switch button').forEach((button) => button.addEventListener('click', () => {
    state.network = button.dataset.net;
    renderArchitecture();
  }));
}
