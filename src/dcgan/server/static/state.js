// The page's shared state, and a tiny event channel between its modules (app, compare, generate).

export const ACTIVE = ['starting', 'running', 'paused'];

export const state = {
  status: { state: 'idle' }, // the server's training, as the WebSocket reports it
  view: null, // the run shown in the Training tab (charts, samples, steering) and the Model & record tab
  followLive: true, // the view follows the server's live run
  series: {}, // metric -> [{x: step, y}] of the viewed run
  marks: [], // the viewed run's live hyperparameter changes [{step, field, old, new}]
  evaluation: null, // the viewed run's eval.json
  warnings: [], // warning and error log lines of the viewed run
  loading: null, // while a run's history loads, live messages for it wait here
  samples: [],
  detail: null, // GET /api/runs/{view}: config, checkpoints, changes
  hparams: null, // GET /api/training/hyperparameters of the live run
  compare: new Map(), // run name -> {color, series} ticked for side by side
  runs: [],
  schema: { fields: [], presets: {} },
  datasets: [], // GET /api/system/datasets: the named datasets, where each is found offline, their class names
  heartbeatS: 5,
  architecture: null,
  network: 'generator',
};

const listeners = new Map();

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, []);
  listeners.get(name).push(fn);
}

export function emit(name, detail) {
  for (const fn of listeners.get(name) || []) fn(detail);
}
