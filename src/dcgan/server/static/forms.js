// Commands: the new-run form (built from the config schema, with a preview of its networks), the training
// controls on the status card (stop, pause, single steps, checkpoint, resume) and the fork dialog.

import { $, $$, el, getJSON, sendJSON, runPath, integer, value, say, revealViewedRun, busy } from './util.js';
import { CHARTS, label } from './charts.js';
import { state, emit, isLiveActive } from './state.js';
import { buildGroups, setInputs, readInputs, showFieldErrors, clearFieldErrors, formFields, forkFields } from './fields.js';
import { addPoint, addSample, renderStatus } from './training.js';
import { openRun, refreshRuns } from './runs.js';
import { renderArchitecture } from './record.js';
import { buildSteer, renderSteer } from './steer.js';

// --- New run ------------------------------------------------------------------------------------------------

// The form (and the live hyperparameters' inputs) from the schema; the page is ready once they are built.
export async function loadForm() {
  const [schema, devices, datasets] = await Promise.all([
    getJSON('/api/config/schema'), getJSON('/api/system/devices'), getJSON('/api/system/datasets')]);
  state.schema = schema;
  emit('schema');
  const names = {};
  for (const d of devices.devices) names[d.device] = d.name;
  buildGroups($('#config-fields'), formFields(), names, 'cfg', (group) => schema.main_groups.includes(group));
  state.datasets = datasets.datasets;
  const list = el('datalist', { id: 'datasets' }, ...datasets.datasets.map((d) => el('option', { value: d.name },
    `${d.summary} — ${d.path ? `available offline (${d.path})` : `not here: \`dcgan fetch ${d.name}\` or a download`}`)));
  document.body.append(list);
  const preset = $('#preset');
  for (const name of Object.keys(schema.presets)) preset.append(el('option', { value: name }, name));
  preset.addEventListener('change', () => setInputs(formFields(), 'cfg', schema.presets[preset.value] || {}));
  buildSteer();
  renderSteer();
  $('#config-form').addEventListener('change', showResolved);
  preset.addEventListener('change', showResolved);
  await showResolved();
  document.body.dataset.ready = '1';
}

// What "auto" will be for the form as it stands (POST /api/config/resolve fills in what training would: the
// dataset's size, the length for this server's device, TTUR's rates): said in each empty box's placeholder and
// in the auto choice of a select, so a run's length is known before it starts. The seed is drawn afresh.
async function showResolved() {
  let answer;
  try {
    answer = await sendJSON('POST', '/api/config/resolve', { config: readForm() });
  } catch {
    return; // a value the form refuses: said when it is sent
  }
  const resolved = answer.config;
  const minutes = resolved.minutes > 0 ? `, or ${resolved.minutes} min if that comes first` : '';
  // Epochs in steps where the dataset's size is known (the server counts them for one process).
  const inSteps = answer.total_steps && Number($('#nproc')?.value || 1) === 1 ? ` = ${integer(answer.total_steps)} steps` : '';
  $('#run-length').textContent = `Length: ${resolved.steps ? `${integer(resolved.steps)} steps`
    : `${resolved.epochs} epochs${inSteps}`}${$('#cfg-epochs')?.value || $('#cfg-steps')?.value ? '' : ' (the default here)'}${minutes}`;
  for (const field of formFields().filter((f) => f.optional && f.name !== 'seed')) {
    const input = document.getElementById(`cfg-${field.name}`);
    const v = resolved[field.name];
    const shown = v === null || v === undefined ? 'auto' : `auto: ${v}${field.name === 'epochs' ? ' epochs' : ''}`;
    if (input?.tagName === 'SELECT') {
      const auto = [...input.options].find((o) => o.value === '');
      if (auto) auto.textContent = shown;
    } else if (input) {
      input.placeholder = field.name === 'steps' && resolved.epochs ? `auto: by epochs (${resolved.epochs})` : shown;
    }
  }
}

function readForm() {
  const config = readInputs(formFields(), 'cfg');
  for (const [key, v] of Object.entries(config)) if (v === null) delete config[key]; // omitted: the default
  return config;
}

async function startTraining(event) {
  event.preventDefault();
  $('#form-error').textContent = '';
  clearFieldErrors($('#config-form'));
  const button = $('#start');
  button.textContent = 'Loading data and models…';
  await busy(button, async () => {
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
    if (status.run && state.view !== status.run) await openRun(status.run);
    revealViewedRun();
  }).catch((error) => showFieldErrors($('#config-form'), $('#form-error'), error));
  renderStatus(); // says what Start offers now
}

// The networks the form's options would build, shown in the Model & record tab.
async function previewArchitecture() {
  try {
    state.architecture = await sendJSON('POST', '/api/config/architecture', { config: readForm() });
    $('#arch-source').textContent = 'from the form';
    $('#form-error').textContent = '';
    clearFieldErrors($('#config-form'));
    renderArchitecture();
    emit('show-tab', 'model');
    $('.arch-card').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  } catch (error) {
    showFieldErrors($('#config-form'), $('#form-error'), error);
  }
}

// --- Training controls --------------------------------------------------------------------------------------

// A run control's click: its button off while sent, a refusal said in the message line, and then the status
// decides what the buttons offer.
async function control(button, action) {
  await busy(button, action).catch((error) => say(error.message, 'error'));
  renderStatus();
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
    const shown = [...CHARTS.loss, ...CHARTS.d].filter((k) => v[k] !== undefined && v[k] !== null)
      .map((k) => `${label(k)} ${value(v[k])}`).join(' · ');
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
}

// --- Fork ---------------------------------------------------------------------------------------------------

const NOW = '__now__'; // the fork dialog's "stop the live run here and fork from this step"

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
  const names = state.schema.live_fields;
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
      body.checkpoint = null; // the run's last: the one its stop just wrote (the server names checkpoints)
    }
    state.followLive = true;
    const status = await sendJSON('POST', '/api/training/fork', body);
    $('#fork-dialog').close();
    $('#fork-name').value = '';
    say(`forked ${body.run} into ${status.run}${Object.keys(changes).length ? ` with ${Object.entries(changes).map(([k, v]) => `${k} = ${v}`).join(', ')}` : ''}`, 'ok');
    if (status.run) await openRun(status.run);
    revealViewedRun();
    refreshRuns();
  } catch (error) {
    showFieldErrors($('#fork-form'), $('#fork-error'), error);
  }
}

export function initForms() {
  $('#config-form').addEventListener('submit', startTraining);
  $('#preview-arch').addEventListener('click', previewArchitecture);
  wireControls();
  $('#fork-form').addEventListener('submit', startFork);
  $('#fork-cancel').addEventListener('click', () => $('#fork-dialog').close());
  $('#fork-checkpoint').addEventListener('change', fillFork);
}
