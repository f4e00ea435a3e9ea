// Forms built from the config schema (GET /api/config/schema): the new-run form, the fork dialog and the live
// hyperparameters. Which options each shows comes from the server's lists, never from a copy here.

import { $$, el, ApiError } from './util.js';
import { state } from './state.js';

// The new-run form: every option but those the launcher sets (world_size is the form's "processes" box).
export const formFields = () => state.schema.fields.filter((f) => !state.schema.launcher_options.includes(f.name));
// The fork dialog: what a fork may change (not what fixes the networks and data).
export const forkFields = () => formFields().filter((f) => !state.schema.fork_fixed.includes(f.name));
// The live hyperparameters: what a training takes from its next step, in the server's order.
export const liveFields = () => state.schema.live_fields.map((name) => state.schema.fields.find((f) => f.name === name))
  .filter(Boolean);

export function fieldInput(field, devices, prefix) {
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

export function fieldLabel(field, input) {
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

export function buildGroups(container, fields, devices, prefix, openGroups) {
  const main = state.schema.main_groups;
  const groups = new Map();
  for (const field of fields) {
    if (!groups.has(field.group)) groups.set(field.group, []);
    groups.get(field.group).push(field);
  }
  const order = [...main.filter((g) => groups.has(g)), ...[...groups.keys()].filter((g) => !main.includes(g))];
  container.replaceChildren(...order.map((group) => {
    const grid = el('div', { class: 'fields' }, ...groups.get(group).map((field) => fieldLabel(field, fieldInput(field, devices, prefix))));
    return el('details', { class: 'group', open: openGroups(group), dataset: { group } }, el('summary', {}, group), grid);
  }));
}

export function setInputs(fields, prefix, values) {
  for (const field of fields) {
    const input = document.getElementById(`${prefix}-${field.name}`);
    if (!input) continue;
    const v = field.name in values ? values[field.name] : field.default;
    if (input.type === 'checkbox') input.checked = Boolean(v);
    else input.value = v === null || v === undefined ? '' : String(v);
    unmark(input);
  }
}

// A box left empty is refused in place, naming the field as the form labels it: sending the config without it
// would train with its default while the box still looks empty. Only an optional field's blank means "auto", and
// a text field whose default is empty (diffaugment: none) may stay empty. Letters in a number box read as empty
// in Chromium (validity.badInput tells them apart).
function refuse(field, reason) {
  const shown = field.default === null || field.default === undefined || field.default === '' ? ''
    : ` (the default is ${field.default})`;
  const message = `${field.name.replaceAll('_', ' ')}: ${reason}${shown}`;
  return new ApiError(422, message, [{ field: field.name, reason }]);
}

export function readInputs(fields, prefix) {
  const config = {};
  for (const field of fields) {
    const input = document.getElementById(`${prefix}-${field.name}`);
    if (!input || input.disabled) continue;
    if (input.type === 'checkbox') {
      config[field.name] = input.checked;
    } else if (input.validity?.badInput) {
      throw refuse(field, 'not a number');
    } else if (input.value === '' && !field.optional && field.default !== '') {
      throw refuse(field, 'give a value');
    } else if (input.value !== '') {
      const numeric = field.type === 'int' || field.type === 'float' || (field.choices && typeof field.choices[0] === 'number');
      config[field.name] = numeric ? Number(input.value) : input.value;
    } else if (field.optional) {
      config[field.name] = null;
    }
  }
  return config;
}

// A refused request (422) names its fields (`config.lr`, `seed`, `rows.3`): each one's box is marked and its reason
// written beside it, so a value out of the server's bounds is said where it was typed (the page keeps no copy of
// the bounds). An input's name is the field's, or its query parameter's.
export function showFieldErrors(form, errorBox, error) {
  clearFieldErrors(form);
  errorBox.textContent = error.message;
  for (const item of error.errors || []) {
    const parts = item.field === 'name' || item.field === 'nproc' ? [`__${item.field}`] : (item.field || '').split('.');
    const input = parts.reverse().map((name) => form.querySelector(`[name="${CSS.escape(name)}"]`)).find(Boolean);
    if (!input) continue;
    input.classList.add('invalid');
    input.setAttribute('aria-invalid', 'true');
    beside(input).append(el('small', { class: 'field-error' }, item.reason));
    input.closest('details')?.setAttribute('open', '');
    input.focus();
  }
}

export const clearFieldErrors = (form) => $$('.invalid', form).forEach(unmark);

// A box whose value is given afresh (typed again, or set from the server) loses the mark and the reason beside it.
export function unmark(input) {
  input.classList.remove('invalid');
  input.removeAttribute('aria-invalid');
  $$('.field-error', beside(input)).forEach((reason) => reason.remove());
}

const beside = (input) => input.closest('label') || input.parentElement;
