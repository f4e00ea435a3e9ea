// Small helpers shared by the dashboard's modules: DOM building, the REST client, number formats.
// Everything from the server is inserted as text (textContent, attributes), never as HTML.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'style') node.setAttribute('style', value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// The page's message line under the status card: what a command did, or why it failed.
export function say(text, kind = '') {
  const message = $('#message');
  message.textContent = text;
  message.className = `message ${kind}`;
}

// After a click that changes the run the page shows (Start, a fork, a run opened from the list), its card comes
// into sight when it is out of it: the form and the run list run far below the top, and on a phone (one column)
// the live view then sits above them, so the user was left looking at the form or the list.
export function revealViewedRun() {
  requestAnimationFrame(() => {
    const card = $('#progress-card');
    const { top } = card.getBoundingClientRect();
    if (top >= 0 && top < window.innerHeight / 2) return;
    const still = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    card.scrollIntoView({ block: 'start', behavior: still ? 'auto' : 'smooth' });
  });
}

// What a request that never reached the server says (fetch's own "Failed to fetch" tells people nothing).
export const NOT_ANSWERING = 'the server is not answering (stopped, or the network is down)';

// --- REST ---------------------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, detail, errors) {
    super(detail);
    this.status = status;
    this.errors = errors || [];
  }
}

// With a token, the server set it as a cookie when the page was opened: requests need nothing more.
export async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, NOT_ANSWERING);
  }
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    let errors = [];
    try {
      const answer = await response.json();
      detail = answer.detail || detail;
      errors = answer.errors || [];
    } catch { /* not JSON: keep the status line */ }
    throw new ApiError(response.status, detail, errors);
  }
  return response;
}

export const getJSON = async (path) => (await api('GET', path)).json();
export const sendJSON = async (method, path, body) => (await api(method, path, body)).json();
export const runPath = (name) => `/api/runs/${encodeURIComponent(name)}`;

// A binary answer as an object URL (images shown in <img>, offered for download).
export async function getBlob(method, path, body) {
  const response = await api(method, path, body);
  const blob = await response.blob();
  return { url: URL.createObjectURL(blob), response, blob };
}

const filenameOf = (response, fallback) =>
  (response.headers.get('Content-Disposition') || '').match(/filename="([^"]+)"/)?.[1] || fallback;

// A drawing (getBlob's answer) offered by a link, under the file name the server gave it.
export function offerDownload(link, { url, response }, fallback) {
  link.href = url;
  link.download = filenameOf(response, fallback);
  link.hidden = false;
  return link;
}

// A button whose request is on its way stays off until the answer (a second click would send it again), marked
// data-sending so the status render leaves it off meanwhile. What the action throws goes on to the caller.
export async function busy(button, action) {
  button.disabled = true;
  button.dataset.sending = '1';
  try {
    return await action();
  } finally {
    delete button.dataset.sending;
    button.disabled = false;
  }
}

// --- Lists --------------------------------------------------------------------------------------------------

// A run's sample steps as the server sends them (GET /api/runs/{name}/samples, the hello's sample_steps) and as
// it would send them after each later grid of a live run: the i-th grid (i from 0) is kept when i is a multiple
// of `every`, and the last always; when `limit` are kept (the server's bound, which its answer says), every other
// one goes and `every` doubles (dcgan.server.runs.SampleIndex), so the steps stay evenly spread however long the
// run trains, and are those a reload would get. A list begun before any answer has no bound to keep.
export class SampleSteps {
  constructor({ count = 0, steps = [], every = 1, limit = Infinity } = {}) {
    this.count = count;
    this.every = every;
    this.limit = limit;
    this.last = steps.at(-1);
    // The multiples of `every` below count: all of steps, or all but the last when the last is not one of them.
    this.kept = count && (count - 1) % every !== 0 ? steps.slice(0, -1) : [...steps];
  }

  // A grid the run has just saved: after the others (one at a step the list already reaches is one it has).
  add(step) {
    if (this.last !== undefined && step <= this.last) return false;
    if (this.count % this.every === 0) {
      this.kept.push(step);
      if (this.kept.length >= this.limit) {
        this.kept = this.kept.filter((_, i) => i % 2 === 0);
        this.every *= 2;
      }
    }
    this.count += 1;
    this.last = step;
    return true;
  }

  get steps() {
    return this.kept.at(-1) === this.last ? this.kept : [...this.kept, this.last];
  }
}

// Increasing steps, at most `max` of them: every other one dropped (the last kept) until they fit. For a list
// made afresh each time (the union of several runs' steps); a list that grows goes on by SampleSteps' rule.
export function thinned(steps, max) {
  let kept = steps;
  while (kept.length > max) kept = kept.filter((_, i) => i % 2 === 0 || i === kept.length - 1);
  return kept;
}

// --- Formats ------------------------------------------------------------------------------------------------

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export const integer = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));

// A mean and its spread as a measurement is written: the spread to two significant digits and the mean to the
// same decimal place (KID 0.1276 ± 0.01263 reads 0.128 ± 0.013).
export function plusMinus(mean, std) {
  if (!Number.isFinite(mean) || !Number.isFinite(std) || std <= 0) return `${value(mean)} ± ${value(std)}`;
  const decimals = Math.min(8, Math.max(0, 1 - Math.floor(Math.log10(std))));
  return `${mean.toFixed(decimals)} ± ${std.toFixed(decimals)}`;
}

export function value(v) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number' && !Number.isInteger(v)) return Number(v.toPrecision(4)).toString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// A class picker's options 0..count-1, labelled with a dataset's class names (GET /api/system/datasets; a name
// that already starts with its number, MNIST's "3 - three", is shown as it is). The class chosen before stays
// chosen while it exists: a run's page is filled again whenever the run reloads.
export function fillClasses(select, names, count) {
  const chosen = select.value;
  select.replaceChildren(...Array.from({ length: count }, (_, i) => el('option', { value: String(i) },
    !names[i] ? String(i) : names[i].startsWith(String(i)) ? names[i] : `${i} · ${names[i]}`)));
  if (chosen !== '' && Number(chosen) < count) select.value = chosen;
}

// A picker's options as the server lists them (GET /api/config/schema: [{name, label}], its default first); the
// value chosen before stays chosen while it is offered.
export function fillChoices(select, choices) {
  const chosen = select.value;
  select.replaceChildren(...choices.map(({ name, label }) => el('option', { value: name }, label)));
  if (choices.some(({ name }) => name === chosen)) select.value = chosen;
}

// Grids of 28x28 images are enlarged with square pixels (image-rendering: pixelated), but shrunk smoothly:
// shrinking by nearest neighbour drops whole rows and columns of each small image. Every <img> of the page is
// marked `shrunk` while it is drawn smaller than its own size (a phone, a 256-image grid, a 64x64 run).
export function smoothWhenShrunk(root = document) {
  const mark = (img) => {
    if (!img.naturalWidth || !img.clientWidth) return;
    const scale = Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight);
    img.classList.toggle('shrunk', scale * window.devicePixelRatio < 1);
  };
  const resized = new ResizeObserver((entries) => entries.forEach(({ target }) => mark(target)));
  root.addEventListener('load', ({ target }) => {
    if (target.tagName !== 'IMG') return;
    resized.observe(target);
    mark(target);
  }, true); // load does not bubble: caught on its way down
}
