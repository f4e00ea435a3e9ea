// The live hyperparameters card: the live run's values (GET /api/training/hyperparameters), edited and applied
// from its next step (PATCH); any other run shows its config and its change history. Which options are live is
// the server's list (the schema's live_fields).

import { $, $$, el, ApiError, getJSON, sendJSON, integer, value, say } from './util.js';
import { state, isLiveView, isLiveActive } from './state.js';
import { fieldInput, fieldLabel, showFieldErrors, liveFields, unmark } from './fields.js';

export function buildSteer() {
  const form = $('#hparam-form');
  form.replaceChildren(...liveFields().map((field) => {
    const input = fieldInput({ ...field, choices: null }, {}, 'live');
    input.disabled = true;
    return fieldLabel(field, input);
  }));
}

export async function loadHyperparameters() {
  try {
    state.hparams = await getJSON('/api/training/hyperparameters');
  } catch {
    state.hparams = null;
  }
  renderSteer();
}

// The editor shows the live run's current values; any other run shows its config and its change history.
export function renderSteer() {
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
    input.classList.remove('edited');
    unmark(input);
  }
  $('#changes').replaceChildren(...(changes.length ? changes.map((c) => el('li', {},
    `after step ${integer(c.step)}: `, el('code', {}, c.field), ` ${value(c.old)} → ${value(c.new)}`))
    : [el('li', { class: 'empty' }, 'none yet')]));
  renderSteerState();
}

export function renderSteerState() {
  const editable = !state.offline && isLiveActive() && state.status.state !== 'starting' && (state.status.nproc || 1) === 1;
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
    if ($('#message').textContent.startsWith('changed ')) say(''); // an earlier change's "changed ...": not this one's
    showFieldErrors($('#hparam-form'), $('#hparam-error'), error);
  }
}

export function initSteer() {
  $('#hparam-form').addEventListener('submit', applyHyperparameters);
  $('#hparam-form').addEventListener('input', (event) => {
    event.target.classList.toggle('edited', event.target.value !== event.target.dataset.current);
  });
}
