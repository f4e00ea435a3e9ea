// The page's shared state, questions about it that every panel asks, and a tiny event channel between the
// page's modules.

import { SampleSteps } from './util.js';

export const ACTIVE = ['starting', 'running', 'paused'];

export const state = {
  status: { state: 'idle' }, // the server's training, as the WebSocket reports it
  view: null, // the run shown in the Training tab (charts, samples, steering) and the Model & record tab
  followLive: true, // the view follows the server's live run
  series: {}, // metric -> [{x: step, y}] of the viewed run
  smoothing: 0.9, // the curves' moving-average weight (charts.js, smooth); the page remembers the user's choice
  marks: [], // the viewed run's live hyperparameter changes [{step, field, old, new}]
  evaluation: null, // the viewed run's eval.json
  warnings: [], // warning and error log lines of the viewed run
  loading: null, // while a run's history loads, live messages for it wait here
  samples: new SampleSteps(), // the viewed run's grids: their count, and the steps the slider scrubs (all of them,
  // or at most the server's bound of them, evenly spread)
  detail: null, // GET /api/runs/{view}: config, checkpoints, changes
  hparams: null, // GET /api/training/hyperparameters of the live run
  compare: new Map(), // run name -> {color, series} ticked for side by side
  runs: [],
  // GET /api/config/schema: the options, presets, and the server's lists of live options, options a fork keeps,
  // the groups forms show first and the options the launcher sets; the metrics' names and labels; the objectives;
  // the interpolation modes and export formats.
  schema: { fields: [], presets: {}, live_fields: [], fork_fixed: [], main_groups: [], launcher_options: [], metrics: [],
    losses: [], interpolation_modes: [], export_formats: [] },
  datasets: [], // GET /api/system/datasets: the named datasets, where each is found offline, their class names
  heartbeatS: 5,
  offline: false, // the live connection is lost: what the page shows of the server may be stale
  architecture: null,
  network: 'generator',
};

// --- The viewed run and the live one -------------------------------------------------------------------------

export function isLiveView() {
  return state.view !== null && state.view === state.status.run;
}

// A multi-process run has no folder until its processes are up: nothing to fetch about it while it starts.
export function liveStarting(name) {
  return name === state.status.run && state.status.state === 'starting';
}

export function isLiveActive() {
  return isLiveView() && ACTIVE.includes(state.status.state);
}

export function viewedSummary() {
  return state.runs.find((run) => run.name === state.view) || null;
}

// --- Events between modules ---------------------------------------------------------------------------------

const listeners = new Map();

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, []);
  listeners.get(name).push(fn);
}

export function emit(name, detail) {
  for (const fn of listeners.get(name) || []) fn(detail);
}
