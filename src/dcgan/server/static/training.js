// The Training tab and the status card: the viewed run's curves (with its live changes marked), its sample
// grids beside real images, its progress and controls' state, the health monitor's warnings, and the log.

import { $, $$, el, getJSON, runPath, duration, integer, value, SampleSteps } from './util.js';
import { CHARTS, METRIC_COLORS, BAND_COLORS, W_DISTANCE, PROBABILITY_TITLE, SCORE_TITLE, label, objective, scoreNote,
  makeChart, dataset, rawDataset, halve, resmooth, loadSmoothing, saveSmoothing, runStart, MUTED } from './charts.js';
import { state, ACTIVE, on, emit, isLiveView, viewedSummary } from './state.js';
import { renderSteerState } from './steer.js';

const MAX_POINTS = 4000; // per curve in the page; longer live runs are averaged down in pairs
const LOG_LINES = 500;
// Lines the live run (`run`, as the server names it in each) logged while another run's log was shown.
let unseen = { run: null, lines: 0 };

// --- Charts of the viewed run -------------------------------------------------------------------------------

const charts = {}; // CHARTS' keys -> Chart.js charts
let shownLoss; // the objective the Discriminator chart was last built for
let ratioLosses = null; // the objectives whose loss ratio is logged (GET /api/health/bands), once it answered

// The viewed run's objective: its summary says it (GET /api/runs), its details while the list has not caught up.
const viewedLoss = () => viewedSummary()?.loss ?? (state.detail?.summary?.name === state.view ? state.detail?.resolved?.loss : undefined);

// The curves of each chart: a critic with a gradient penalty also logs its Wasserstein estimate, drawn on the
// Discriminator chart's own right axis (unbounded, unlike the sigmoids).
function chartMetrics(key) {
  return key === 'd' && objective(viewedLoss())?.gradient_penalty ? [...CHARTS.d, W_DISTANCE] : CHARTS[key];
}

// Each curve twice: smoothed (its label, in the legend; recomputed at every redraw) over its logged values.
export function rebuildCharts() {
  for (const key of Object.keys(CHARTS)) {
    const metrics = chartMetrics(key);
    const axis = (metric) => (metric === W_DISTANCE ? { yAxisID: 'w' } : {});
    const smoothed = metrics.map((metric) => ({ ...dataset(label(metric), [], METRIC_COLORS[metric]), metric, ...axis(metric) }));
    const raw = metrics.map((metric) => ({ ...rawDataset(label(metric), (state.series[metric] ??= []), METRIC_COLORS[metric]), ...axis(metric) }));
    charts[key].data.datasets = [...smoothed, ...raw];
    resmooth(charts[key], viewedSeries);
  }
  renderObjective();
  renderBalance();
  renderMarks();
  drawCharts();
}

// The Discriminator card says what it draws: probabilities for the cross-entropy objectives, else the sigmoid of
// D's scores (and, for WGAN-GP, the W distance on the right).
function renderObjective() {
  shownLoss = viewedLoss();
  const traits = objective(shownLoss);
  const scores = traits !== null && !traits.probabilities;
  const chart = charts.d;
  chart.options.scales.y.title.text = scores ? SCORE_TITLE : PROBABILITY_TITLE;
  chart.options.scales.w.display = Boolean(traits?.gradient_penalty);
  chart.options.scales.w.title.text = label(W_DISTANCE);
  chart.canvas.dataset.loss = shownLoss ?? '';
  if (state.schema.metrics.length) $('#d-hint').textContent = chartMetrics('d').map(label).join(' · ');
  const note = $('#d-note');
  note.textContent = scoreNote(shownLoss);
  note.hidden = !scores;
}

// The Balance chart's bands are the non-saturating objective's loss_G / loss_D at given D(x) and D(G(z)), so the
// trainer logs the ratio only for the objectives the server names (and not with --feature-matching, where G's loss
// is a feature distance): for any other run its empty plot says why nothing is drawn, naming the run's --loss.
function balanceEmptyText() {
  if (!ratioLosses) return 'Curves appear here as a run trains.';
  const logged = `--loss ${ratioLosses.join(', ')}`;
  const loss = viewedLoss();
  if (!state.view || !objective(loss)) return `Drawn as a run with ${logged} trains.`;
  if (!ratioLosses.includes(loss)) return `No ratio for --loss ${loss}: it and these bands are logged for ${logged} only.`;
  const detail = state.detail?.summary?.name === state.view ? state.detail : null;
  if (detail?.resolved?.feature_matching) return "No ratio with --feature-matching: G's loss is then a feature distance.";
  return 'Drawn as the run trains.';
}

function renderBalance() {
  const chart = charts.ratio;
  chart.options.plugins.empty.text = balanceEmptyText();
  chart.canvas.dataset.loss = viewedLoss() ?? '';
}

const viewedSeries = (set) => state.series[set.metric] || [];

let drawPending = false;
export function drawCharts() {
  // At most one redraw per frame however fast points arrive; hidden tabs get none until they show again.
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    const start = state.view ? runStart(state.view) : 0;
    for (const key of Object.keys(CHARTS)) {
      const metrics = chartMetrics(key);
      resmooth(charts[key], viewedSeries);
      charts[key].options.scales.x.min = start;
      charts[key].update('none');
      // For tests and curious users: the longest curve's length and last step.
      const longest = Math.max(...metrics.map((m) => (state.series[m] || []).length));
      const last = Math.max(...metrics.map((m) => state.series[m]?.at(-1)?.x ?? -1));
      charts[key].canvas.dataset.points = String(longest);
      charts[key].canvas.dataset.lastStep = last < 0 ? '' : String(last);
    }
  });
}

export function addPoint(step, values) {
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
    chart.options.plugins.marks.marks = marks;
    chart.canvas.dataset.marks = String(marks.length);
  }
  const list = $('#marks');
  list.hidden = !state.marks.length;
  list.replaceChildren(...state.marks.map((mark, i) => el('li', { dataset: { field: mark.field, step: mark.step } },
    el('b', {}, String(i + 1)), ` after step ${integer(mark.step)}: `, el('code', {}, mark.field), ` ${value(mark.old)} → ${value(mark.new)}`)));
  drawCharts();
}

export function addMark(mark) {
  if (state.marks.some((m) => m.step === mark.step && m.field === mark.field && m.new === mark.new)) return;
  state.marks.push(mark);
  renderMarks();
}

// --- Samples ------------------------------------------------------------------------------------------------

// A run's sample steps as the server sends them (GET /api/runs/{name}/samples, the hello's sample_steps): their
// count, and the steps themselves, evenly thinned when the run saved more grids than a slider can tell apart.
export function setSamples(samples) {
  state.samples = new SampleSteps(samples);
  updateSlider();
}

// A grid the run has just saved joins them as the server would add it (SampleSteps).
export function addSample(step) {
  const shown = state.samples.steps[Number($('#sample-slider').value)];
  if (state.samples.add(step)) updateSlider(shown);
}

// The slider over the steps: at the newest with "latest" ticked, else on the grid it showed (or the nearest
// earlier one left after thinning).
function updateSlider(shown) {
  const slider = $('#sample-slider');
  const { steps } = state.samples;
  slider.max = String(Math.max(0, steps.length - 1));
  if ($('#sample-follow').checked) slider.value = slider.max;
  else if (shown !== undefined) slider.value = String(Math.max(0, steps.findLastIndex((s) => s <= shown)));
  showSample();
}

function showSample() {
  const img = $('#sample-img');
  const index = Number($('#sample-slider').value);
  const { steps, count } = state.samples;
  const step = steps[index];
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
  const of = steps.length < count
    ? `${index + 1} of ${integer(steps.length)} shown (${integer(count)} grids)`
    : `${index + 1} of ${steps.length}`;
  $('#sample-label').textContent = `step ${integer(step)} · ${of}`;
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
export function showReal(again = false) {
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
export async function loadBands() {
  const answer = await getJSON('/api/health/bands');
  charts.ratio.options.plugins.bands.bands = answer.ratio_bands;
  charts.ratio.canvas.dataset.bands = String(answer.ratio_bands.length);
  $('#ratio-bands').replaceChildren(...answer.ratio_bands.map((band) => el('li', {
    style: `--swatch: ${BAND_COLORS[band.name] || '#eee'}`, title: band.meaning },
  `${band.name}: ${value(band.low)}–${band.high === null ? '∞' : value(band.high)}`)),
  el('li', { class: 'plain' }, `logged for --loss ${answer.ratio_losses.join(', ')} (not with --feature-matching)`));
  ratioLosses = answer.ratio_losses;
  renderBalance();
  drawCharts();
}

// --- Status and progress ------------------------------------------------------------------------------------

export function renderStatus() {
  const s = state.status;
  const { offline } = state;
  // Disconnected, the last status is all the page knows: the controls that act on the run are off until it is back.
  // They act on the live run, so they are on only while it is the run in view (not beside another run's charts).
  const live = isLiveView();
  const busy = ACTIVE.includes(s.state);
  const paused = s.state === 'paused';
  const pill = $('#status-pill');
  pill.textContent = offline ? `${s.state}?` : s.stop_requested && busy ? 'stopping' : s.state;
  pill.dataset.state = offline ? 'unknown' : s.state;
  pill.title = offline ? 'the last state the server reported before the connection was lost' : '';
  // Paused, the step moves with single steps while the server's message keeps the step it paused at: the page says
  // the step itself, as the card does.
  const message = paused ? `paused at step ${integer(s.step)}` : s.message;
  $('#live-run').textContent = s.run ? `${s.run}${message ? ` — ${message}` : ''}` : message || '';
  if (!$('#start').dataset.sending) {
    $('#start').disabled = busy || offline; // nothing to start on while the server is not answering
    $('#start').textContent = busy ? 'A run is training' : 'Start training';
  }
  // Shown only beside a training run: a finished or past run's card (and a phone's first screen) had three greyed
  // buttons that could never apply, a whole row of them for Stop on a phone.
  for (const control of ['#pause', '#save-checkpoint', '#stop']) $(control).hidden = !(live && busy);
  $('#stop').disabled = offline || !live || !busy || s.stop_requested;
  $('#save-checkpoint').disabled = offline || !live || !busy || s.state === 'starting';
  const steerable = !offline && live && busy && s.state !== 'starting' && !s.stop_requested && (s.nproc || 1) === 1;
  const pause = $('#pause');
  if (!pause.dataset.sending) {
    pause.disabled = !steerable;
    pause.textContent = paused ? 'Continue' : 'Pause';
    pause.dataset.action = paused ? 'unpause' : 'pause';
  }
  $('#go-live').hidden = state.followLive || !s.run || state.view === s.run;

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
  $('#stat-speed').textContent = live && busy && !paused && !offline && s.images_per_s ? integer(s.images_per_s) : '–';
  // The server sends no time left through the warm-up (its slow first steps would overstate it).
  const measuring = s.state === 'running' && (s.eta_s === null || s.eta_s === undefined);
  $('#stat-eta').textContent = live && busy && !offline
    ? (paused ? 'paused' : measuring ? 'measuring' : duration(s.eta_s)) : '–';
  $('#stat-device').textContent = live ? `${s.device || '–'}${s.nproc > 1 ? ` × ${s.nproc}` : ''}` : state.detail?.summary?.device || state.detail?.config?.device || '–';

  $('#step-row').hidden = !(live && paused);
  $$('#step-row button').forEach((button) => { if (!button.dataset.sending) button.disabled = offline || !(live && paused); });

  const viewState = live ? s.state : summary?.status;
  // Any ended run resumes: from its last checkpoint, or from step 0 when it ended before its first.
  $('#resume-row').hidden = busy || !state.view
    || !['stopped', 'finished', 'failed', 'interrupted'].includes(viewState);
  if (!$('#resume').dataset.sending) $('#resume').disabled = busy || offline; // control() disabled it while sent
  // The live run can be forked from where it is now (the dialog stops it first: one training at a time).
  const forkLive = live && busy && s.state !== 'starting' && (s.nproc || 1) === 1;
  $('#fork').disabled = offline || !state.view || !(forkLive || (!busy && summary?.checkpoints > 0));
  $('#fork').title = forkLive ? 'stop this run here, or pick a checkpoint, and start a new run from it'
    : busy ? 'one training at a time: stop the active run to fork' : 'a new run from a checkpoint of this one';
  renderHealth();
  renderSteerState();
  renderLogSource();
}

// --- Health warnings: what the trainer's monitor (and the rest of it) logs at warning level ---------------

export function noteWarning(line) {
  if (!['warning', 'error'].includes(line.level)) return;
  state.warnings.push(line);
  if (state.warnings.length > 50) state.warnings.shift();
  renderHealth();
}

const isWarning = (line) => ['warning', 'error'].includes(line.level);

// The viewed run's log and warnings: the live run's as the server sent them (liveLog), any other's from its
// log.txt (GET /api/runs/{name}/log).
export async function loadLog(name) {
  unseen = { run: null, lines: 0 };
  renderLogSource();
  if (isLiveView()) {
    setLog(liveLog);
    state.warnings = liveLog.filter(isWarning);
    renderHealth();
    return;
  }
  setLog([]);
  let lines = [];
  try {
    lines = (await getJSON(`${runPath(name)}/log?lines=${LOG_LINES}`)).lines;
  } catch { /* no log.txt: an empty log */ }
  if (state.view !== name || isLiveView()) return;
  setLog(lines);
  state.warnings = lines.filter(isWarning);
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

// The live run's log lines (the hello's, then each one the server sends), shown while the live run is in view.
const liveLog = [];

export function setLiveLog(lines) {
  liveLog.splice(0, liveLog.length, ...lines.slice(-LOG_LINES));
  if (!isLiveView()) return;
  setLog(liveLog);
  state.warnings = liveLog.filter(isWarning);
  renderHealth();
}

export function liveLogLine(line, run) {
  liveLog.push(line);
  if (liveLog.length > LOG_LINES) liveLog.shift();
  if (isLiveView()) {
    logLine(line);
  } else if (run) {
    unseen = { run, lines: unseen.run === run ? unseen.lines + 1 : 1 };
    renderLogSource();
  }
}

// Whose log the card shows, said only where the lines could be taken for the live run's: another run's log.txt
// while a run trains, with the count of lines the live run has logged since (they are in its own Log).
export function renderLogSource() {
  const source = $('#log-run');
  const live = state.status.run;
  const other = Boolean(state.view && live && state.view !== live && ACTIVE.includes(state.status.state));
  source.hidden = !other;
  if (!other) return;
  const lines = unseen.run === live ? unseen.lines : 0;
  const news = lines ? `, ${lines} new line${lines === 1 ? '' : 's'} there` : '';
  source.textContent = `${state.view}'s log, not the live run's (${live}${news})`;
}

export function logLine(line) {
  const log = $('#log');
  // log.txt's lines (a past run's) carry no time: no empty stamp, whose margin indented each of them.
  const stamp = line.time ? el('time', {}, new Date(line.time * 1000).toLocaleTimeString([], { hour12: false })) : null;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(el('li', { class: line.level }, stamp, line.message));
  while (log.childElementCount > LOG_LINES) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
  $('#log-count').textContent = linesCount(log.childElementCount);
}

const linesCount = (n) => (n ? `${integer(n)} line${n === 1 ? '' : 's'}` : '');

export function setLog(lines) {
  $('#log').replaceChildren();
  lines.forEach(logLine);
  $('#log-count').textContent = linesCount(lines.length);
}

// The smoothing slider beside the tabs: every curve of the Training and Side by side tabs, remembered by the page.
function initSmoothing() {
  const slider = $('#smoothing');
  const show = () => { $('#smoothing-value').textContent = state.smoothing.toFixed(2); };
  slider.value = String(loadSmoothing());
  show();
  slider.addEventListener('input', () => {
    saveSmoothing(Number(slider.value));
    show();
    drawCharts();
    emit('smoothing');
  });
  on('tab', (name) => { $('#smoothing-box').hidden = !['training', 'compare'].includes(name); });
}

export function initTraining() {
  charts.loss = makeChart($('#chart-loss'), { title: { display: true, text: 'loss', color: MUTED } });
  charts.d = makeChart($('#chart-d'), { min: 0, max: 1, title: { display: true, text: PROBABILITY_TITLE, color: MUTED } }, {
    scales: { w: { type: 'linear', position: 'right', display: false, grid: { drawOnChartArea: false },
      title: { display: true, text: '', color: MUTED } } } });
  // The ratio's usual range (0.1 to 30) from the start, so that an empty chart already shows the bands it is read by.
  charts.ratio = makeChart($('#chart-ratio'), { type: 'logarithmic', suggestedMin: 0.1, suggestedMax: 30,
    title: { display: true, text: 'loss_G / loss_D (log)', color: MUTED } },
    { empty: 'Curves appear here as a run trains.' }); // renderBalance says more once it knows the run's objective
  initSmoothing();
  rebuildCharts();
  on('schema', rebuildCharts); // the curves' labels and the objectives' traits arrive with the schema
  // A new run's objective arrives with the runs list (or its details), after its first points may have.
  // Its options (--feature-matching) arrive with its details.
  const objectiveArrived = () => {
    if (viewedLoss() !== shownLoss) rebuildCharts();
    else { renderBalance(); drawCharts(); }
  };
  on('runs', objectiveArrived);
  on('details', objectiveArrived);
  $('#sample-slider').addEventListener('input', () => {
    $('#sample-follow').checked = $('#sample-slider').value === $('#sample-slider').max;
    showSample();
  });
  $('#sample-follow').addEventListener('change', updateSlider);
}
