// The Generate tab: one source (run, checkpoint, class for conditional runs) for five tools — sample grids,
// latent interpolation (strip + GIF), vector arithmetic on samples the user clicks into groups A, B and C, style
// mixing grids (one per block) and slides along a class's attribute direction.

import { $, $$, el, getJSON, sendJSON, getBlob, runPath, integer, fillClasses, fillChoices, busy, offerDownload } from './util.js';
import { state, on } from './state.js';
import { showFieldErrors, clearFieldErrors } from './fields.js';

const SEEDS_SHOWN = 16;
const groups = { a: [], b: [], c: [] };
let activeGroup = 'a';
const urls = {}; // object URLs in use, revoked when replaced

function keepUrl(key, url) {
  if (urls[key]) URL.revokeObjectURL(urls[key]);
  urls[key] = url;
  return url;
}

const source = () => ({ run: $('#generate-run').value, checkpoint: $('#generate-checkpoint').value || null,
  label: $('#class-field').hidden ? null : $('#generate-class').value || null });

function sourceParams(extra = {}) {
  const { checkpoint, label } = source();
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(extra)) params.set(k, String(v));
  if (checkpoint) params.set('checkpoint', checkpoint);
  if (label !== null && label !== '') params.set('label', label);
  return params;
}

// --- The source ---------------------------------------------------------------------------------------------

function fillRuns() {
  const select = $('#generate-run');
  const current = select.value;
  const usable = state.runs.filter((run) => run.checkpoints > 0);
  select.replaceChildren(...usable.map((run) => el('option', { value: run.name }, run.name)));
  if (!usable.length) select.append(el('option', { value: '' }, 'no run has a checkpoint yet'));
  const has = (name) => usable.some((run) => run.name === name);
  const wanted = has(current) ? current : has(state.view) ? state.view : usable[0]?.name;
  if (wanted && (wanted !== current || !$('#generate-checkpoint').options.length)) selectRun(wanted);
  else if (wanted) select.value = wanted;
}

function selectRun(name) {
  $('#generate-run').value = name;
  loadSource(name);
}

async function loadSource(name) {
  try {
    const detail = await getJSON(runPath(name));
    if ($('#generate-run').value !== name) return;
    const select = $('#generate-checkpoint');
    const last = detail.checkpoints.find((c) => c.last);
    select.replaceChildren(el('option', { value: '' }, last ? `last (step ${integer(last.step)})` : 'last'),
      ...detail.checkpoints.map((c) => el('option', { value: c.name },
        c.step === null ? `${c.name} (export)` : `step ${integer(c.step)}`)));
    select.value = detail.selected_checkpoint || '';
    const classes = detail.summary.conditional ? detail.summary.num_classes || detail.config.num_classes : 0;
    $('#class-field').hidden = !classes;
    const dataset = (state.datasets || []).find((d) => d.name === detail.config.dataset);
    const names = dataset?.class_names || [];
    // A folder's classes are its sub-folders, which its generator recorded (the named datasets' are listed).
    const drawn = classes && !names.length ? (await getJSON(`${runPath(name)}/generator`)).class_names : names;
    if ($('#generate-run').value !== name) return;
    if (classes) fillClasses($('#generate-class'), drawn, classes);
    $('#generate-source').textContent = classes ? `conditional: ${classes} classes` : '';
    fillClasses($('#attr-class'), names, names.length);
    attributeReady(detail.config.dataset, Boolean(dataset?.classifier));
    loadBlocks();
    showSeeds();
  } catch (error) {
    $('#generate-source').textContent = error.message;
  }
}

async function selectCheckpoint() {
  const { run, checkpoint } = source();
  try {
    const info = await sendJSON('PUT', `${runPath(run)}/generator`, { checkpoint });
    $('#generate-source').textContent = `loaded step ${integer(info.step)}`;
    loadBlocks();
    showSeeds();
  } catch (error) {
    $('#generate-source').textContent = error.message;
  }
}

// --- Samples ------------------------------------------------------------------------------------------------

async function generate(event) {
  event.preventDefault();
  const { run } = source();
  if (!run) return;
  const params = sourceParams({ count: $('#generate-count').value, seed: $('#generate-seed').value });
  await busy($('#generate'), async () => {
    const answer = await getBlob('GET', `${runPath(run)}/generate.png?${params}`);
    const { response } = answer;
    const img = $('#generate-img');
    img.src = keepUrl('generate', answer.url);
    img.dataset.seed = response.headers.get('X-Seed');
    img.hidden = false;
    $('#generate-empty').hidden = true;
    offerDownload($('#generate-download'), answer, 'generated.png');
    $('#generate-info').textContent = `step ${integer(Number(response.headers.get('X-Step')))} · seed ${response.headers.get('X-Seed')}`;
    $('#generate-info').className = 'hint';
    clearFieldErrors($('#generate-form'));
  }).catch((error) => {
    // Said as an error (and beside the box the server refused), and the grid of the request before goes: left
    // there, it read as this request's answer.
    showFieldErrors($('#generate-form'), $('#generate-info'), error);
    $('#generate-info').className = 'hint error';
    $('#generate-img').hidden = true;
    $('#generate-download').hidden = true;
    $('#generate-empty').hidden = false;
    $('#generate-empty').textContent = 'Nothing generated: see the error above.';
  });
}

// --- Interpolation ------------------------------------------------------------------------------------------

async function interpolate(event) {
  event.preventDefault();
  const { run } = source();
  if (!run) return;
  $('#interp-empty').textContent = 'Generating…';
  const params = sourceParams({ from_seed: $('#interp-from').value, to_seed: $('#interp-to').value,
    steps: $('#interp-steps').value, mode: $('#interp-mode').value });
  await busy($('#interp-go'), async () => {
    const [strip, gif] = await Promise.all([
      getBlob('GET', `${runPath(run)}/interpolate.png?${params}`),
      getBlob('GET', `${runPath(run)}/interpolate.gif?${params}`)]);
    $('#interp-strip').src = keepUrl('strip', strip.url);
    $('#interp-gif').src = keepUrl('gif', gif.url);
    $('#interp-strip-box').hidden = false;
    $('#interp-gif-box').hidden = false;
    $('#interp-empty').hidden = true;
    offerDownload($('#interp-download'), gif, `${run}-interpolation.gif`);
    clearFieldErrors($('#interp-form'));
  }).catch((error) => {
    $('#interp-empty').hidden = false;
    showFieldErrors($('#interp-form'), $('#interp-empty'), error);
  });
}

// --- Vector arithmetic --------------------------------------------------------------------------------------

let seedsRequest = 0;
let visible = false; // the seed grid loads only while the tab shows (16 images per change of source)
let stale = true;
async function showSeeds() {
  if (!visible) {
    stale = true;
    return;
  }
  stale = false;
  const { run } = source();
  const box = $('#arith-seeds');
  if (!run) {
    box.replaceChildren(el('p', { class: 'empty-note' }, 'Pick a run with a checkpoint.'));
    return;
  }
  const start = Math.max(0, Number($('#arith-start').value) || 0);
  const request = ++seedsRequest;
  const tiles = [];
  for (let seed = start; seed < start + SEEDS_SHOWN; seed += 1) {
    const tile = el('button', { type: 'button', class: 'seed', dataset: { seed: String(seed) }, title: `seed ${seed}`, 'aria-label': `seed ${seed}` },
      el('span', { class: 'seed-no' }, String(seed)), el('span', { class: 'tag' }));
    tile.addEventListener('click', () => toggleSeed(seed));
    tiles.push(tile);
  }
  box.replaceChildren(...tiles);
  renderGroups();
  // One image per seed (the z that `sample(1, seed)` draws, which is what the arithmetic averages).
  for (const tile of tiles) {
    if (request !== seedsRequest) return;
    try {
      const { url } = await getBlob('GET', `${runPath(run)}/generate.png?${sourceParams({ count: 1, seed: tile.dataset.seed })}`);
      if (request !== seedsRequest) { URL.revokeObjectURL(url); return; }
      tile.prepend(el('img', { src: url, alt: '' }));
    } catch (error) {
      tile.title = error.message;
    }
  }
}

function toggleSeed(seed) {
  const list = groups[activeGroup];
  const inOther = Object.entries(groups).find(([name, seeds]) => name !== activeGroup && seeds.includes(seed));
  if (inOther) inOther[1].splice(inOther[1].indexOf(seed), 1);
  if (list.includes(seed)) list.splice(list.indexOf(seed), 1);
  else list.push(seed);
  renderGroups();
}

function renderGroups() {
  for (const [name, seeds] of Object.entries(groups)) {
    $(`#arith-summary [data-group="${name}"] .seeds`).textContent = seeds.length ? `seeds ${seeds.join(', ')}` : '–';
  }
  $$('#arith-seeds .seed').forEach((tile) => {
    const seed = Number(tile.dataset.seed);
    const group = Object.keys(groups).find((name) => groups[name].includes(seed)) || '';
    tile.dataset.group = group;
    tile.querySelector('.tag').textContent = group.toUpperCase();
    tile.setAttribute('aria-pressed', String(Boolean(group)));
  });
  $('#arith-go').disabled = !(groups.a.length && groups.b.length && groups.c.length);
  $('#arith-go').title = $('#arith-go').disabled ? 'put at least one sample in each of A, B and C (the paper averages three)' : '';
}

async function computeArithmetic() {
  const { run, checkpoint, label } = source();
  const body = { a: groups.a, b: groups.b, c: groups.c, variations: 8 };
  if (checkpoint) body.checkpoint = checkpoint;
  if (label !== null && label !== '') body.label = Number(label);
  await busy($('#arith-go'), async () => {
    const answer = await getBlob('POST', `${runPath(run)}/arithmetic.png`, body);
    $('#arith-result').src = keepUrl('arith', answer.url);
    $('#arith-result-box').hidden = false;
    offerDownload($('#arith-download'), answer, `${run}-arithmetic.png`);
  }).catch((error) => {
    $('#arith-result-box').hidden = true;
    $('#generate-source').textContent = error.message;
  });
  renderGroups(); // the button is on again only with a sample in each group
}

// --- Style mixing -------------------------------------------------------------------------------------------

const seedList = (text) => text.split(',').map((part) => part.trim()).filter(Boolean).map(Number);

async function loadBlocks() {
  const { run, checkpoint } = source();
  if (!run) return;
  try {
    const params = new URLSearchParams(checkpoint ? { checkpoint } : {});
    const answer = await getJSON(`${runPath(run)}/mix/blocks?${params}`);
    const select = $('#mix-block');
    const chosen = select.value;
    select.replaceChildren(el('option', { value: 'all' }, 'every block, one grid each'),
      ...answer.blocks.map((b) => el('option', { value: String(b.block) }, blockName(b))));
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
    select.dataset.blocks = JSON.stringify(answer.blocks);
  } catch (error) {
    $('#mix-empty').textContent = error.message;
  }
}

const blockName = (b) => (b.output ? `${b.block} · the output (${b.height}x${b.width})`
  : `${b.block} · ${b.channels} maps of ${b.height}x${b.width}`);

async function mix(event) {
  event.preventDefault();
  const { run } = source();
  if (!run) return;
  const blocks = JSON.parse($('#mix-block').dataset.blocks || '[]');
  const wanted = $('#mix-block').value === 'all' ? blocks : blocks.filter((b) => String(b.block) === $('#mix-block').value);
  $('#mix-empty').hidden = false;
  $('#mix-empty').textContent = 'Mixing…';
  await busy($('#mix-go'), async () => {
    const figures = [];
    for (const b of wanted) {
      const params = sourceParams({ block: b.block });
      for (const seed of seedList($('#mix-rows').value)) params.append('rows', String(seed));
      for (const seed of seedList($('#mix-cols').value)) params.append('cols', String(seed));
      const answer = await getBlob('GET', `${runPath(run)}/mix.png?${params}`);
      const img = el('img', { src: keepUrl(`mix-${b.block}`, answer.url), alt: `style mixing from block ${b.block}`,
        dataset: { block: String(b.block) } });
      const link = offerDownload(el('a', { title: 'download this grid' }, img), answer, `${run}-mix-block${b.block}.png`);
      figures.push(el('figure', {}, link, el('figcaption', {}, `from block ${blockName(b)}`)));
    }
    $('#mix-grids').replaceChildren(...figures);
    $('#mix-empty').hidden = figures.length > 0;
    clearFieldErrors($('#mix-form'));
  }).catch((error) => showFieldErrors($('#mix-form'), $('#mix-empty'), error));
}

// --- Attribute directions -----------------------------------------------------------------------------------

// The direction is fitted with the dataset's domain classifier; which datasets have one, the server says
// (GET /api/system/datasets).
function attributeReady(dataset, ready) {
  $('#attr-go').disabled = !ready;
  const installed = state.datasets.filter((d) => d.classifier).map((d) => d.name).join(', ') || 'none';
  $('#attr-info').textContent = ready ? 'The direction is fitted over sampled z (a few seconds the first time).'
    : `No domain classifier is installed for ${dataset}: attribute directions need one (installed: ${installed}).`;
}

async function attribute(event) {
  event.preventDefault();
  const { run } = source();
  if (!run) return;
  $('#attr-info').textContent = 'Fitting the direction…';
  const params = sourceParams({ toward: $('#attr-class').value, steps: $('#attr-steps').value, distance: $('#attr-distance').value });
  for (const seed of seedList($('#attr-seeds').value)) params.append('seeds', String(seed));
  await busy($('#attr-go'), async () => {
    const answer = await getBlob('GET', `${runPath(run)}/attribute.png?${params}`);
    const { response } = answer;
    $('#attr-strip').src = keepUrl('attr', answer.url);
    $('#attr-strip-box').hidden = false;
    offerDownload($('#attr-download'), answer, `${run}-attribute.png`);
    const steps = Number($('#attr-steps').value);
    const p = (response.headers.get('X-Probabilities') || '').split(',').map(Number);
    const rows = [];
    for (let i = 0; i + steps <= p.length; i += steps) rows.push(`${p[i].toFixed(2)} → ${p[i + steps - 1].toFixed(2)}`);
    const [, ...name] = (response.headers.get('X-Class') || '').split(' ');
    $('#attr-info').textContent = `p(${name.join(' ')}) along each row: ${rows.join(' · ')}; the fit explains ${Math.round(100 * Number(response.headers.get('X-R2')))}% of the log-odds on held-out z`;
    clearFieldErrors($('#attr-form'));
  }).catch((error) => {
    $('#attr-strip-box').hidden = true;
    showFieldErrors($('#attr-form'), $('#attr-info'), error);
  });
}

export function initGenerate() {
  $('#mix-form').addEventListener('submit', mix);
  $('#attr-form').addEventListener('submit', attribute);
  $('#generate-form').addEventListener('submit', generate);
  $('#interp-form').addEventListener('submit', interpolate);
  $('#generate-run').addEventListener('change', () => loadSource($('#generate-run').value));
  $('#generate-checkpoint').addEventListener('change', selectCheckpoint);
  $('#generate-class').addEventListener('change', showSeeds);
  $('#generate-dice').addEventListener('click', () => { $('#generate-seed').value = String(Math.floor(Math.random() * 1e6)); });
  $$('#arith-groups button').forEach((button) => button.addEventListener('click', () => {
    activeGroup = button.dataset.group;
    $$('#arith-groups button').forEach((b) => b.setAttribute('aria-checked', String(b === button)));
  }));
  $('#arith-start').addEventListener('change', showSeeds);
  $('#arith-more').addEventListener('click', () => {
    $('#arith-start').value = String((Number($('#arith-start').value) || 0) + SEEDS_SHOWN);
    showSeeds();
  });
  $('#arith-clear').addEventListener('click', () => {
    for (const seeds of Object.values(groups)) seeds.length = 0;
    renderGroups();
  });
  $('#arith-go').addEventListener('click', computeArithmetic);
  on('runs', fillRuns);
  on('schema', () => fillChoices($('#interp-mode'), state.schema.interpolation_modes));
  on('tab', (name) => {
    visible = name === 'generate';
    if (visible && stale) showSeeds();
  });
  on('checkpoint', (message) => { if ($('#generate-run').value === message.run) loadSource(message.run); });
  on('view', (name) => {
    // Follow the viewed run until the user picks another source here.
    if (!$('#generate-run').dataset.chosen && [...$('#generate-run').options].some((o) => o.value === name)) selectRun(name);
  });
  $('#generate-run').addEventListener('change', () => { $('#generate-run').dataset.chosen = '1'; });
}
