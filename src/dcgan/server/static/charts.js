// Line charts (Chart.js, loaded as a classic script before the modules run), their curves smoothed over the
// logged values, and what they draw beside them: markers at the steps where a live hyperparameter changed, the
// health monitor's bands, and a line of text while a chart has no point.

import { state } from './state.js';
import { integer } from './util.js';

// The viewed run's charts (canvas #chart-<key>) and their curves, by the metrics' names (the server's vocabulary,
// dcgan.vocabulary); Side by side overlays loss and d.
// The colours of what the charts draw themselves, from app.css (which sets them for the light and the dark scheme).
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
export const MUTED = css('--chart-ink');
const CARD = css('--card');
Chart.defaults.color = MUTED;
Chart.defaults.borderColor = css('--chart-grid');

export const CHARTS = { loss: ['loss/D', 'loss/G'], d: ['D/real', 'D/fake'], ratio: ['loss/ratio'] };
export const METRIC_COLORS = { 'loss/D': '#e4572e', 'loss/G': '#2e86de', 'D/real': '#12a37f', 'D/fake': '#8e44ad',
  'loss/ratio': css('--chart-ratio'), 'D/W_distance': '#d4a017' };
export const W_DISTANCE = 'D/W_distance';
export const PROBABILITY_TITLE = 'probability "real"';
export const SCORE_TITLE = 'σ(D score)';

// The step a run's curves start from: a fork's at its parent's checkpoint (its axis starts there instead of
// squeezing its curves into the right of an axis from 0), any other run's at 0.
export function runStart(name) {
  return state.runs.find((run) => run.name === name)?.parent?.step ?? 0;
}

// A metric's label for people (loss_D, D(x)), as the server publishes it (GET /api/config/schema: metrics); a
// name outside the vocabulary (eval/fid) is its own label.
export function label(name) {
  return state.schema.metrics.find((metric) => metric.name === name)?.label ?? name;
}

// An objective's traits (GET /api/config/schema: losses, from dcgan.losses.LOSSES), by its --loss name; null while
// the run's objective or the schema is not known yet.
export function objective(loss) {
  return state.schema.losses.find((o) => o.name === loss) ?? null;
}

// D(x) and D(G(z)) are the mean sigmoid of D's output. That is a probability only where D's outputs are logits of
// P(real) (the cross-entropy objectives); a critic's or a margin's scores have no fixed offset (WGAN-GP, Gulrajani
// et al. 2017; hinge, Miyato et al. 2018), so their sigmoid says little more than which side of 0 they sit on.
export function scoreNote(loss) {
  const traits = objective(loss);
  if (!traits || traits.probabilities) return '';
  return traits.gradient_penalty
    ? `--loss ${loss}: a critic's scores have no fixed offset, so D(x) and D(G(z)) are σ(score), not probabilities. `
      + 'W distance (right axis): its Wasserstein estimate, lower as G nears the data.'
    : `--loss ${loss}: D's outputs are scores, not logits of P(real), so D(x) and D(G(z)) are σ(score), not probabilities.`;
}

// The health monitor's bands, lightest behind the curve (their limits come from GET /api/health/bands).
export const BAND_COLORS = { 'G ahead': 'rgba(212, 160, 23, 0.16)', contest: 'rgba(18, 163, 127, 0.12)',
  'D overpowers': 'rgba(228, 87, 46, 0.16)' };
export const RUN_COLORS = ['#4f46e5', '#e4572e', '#12a37f', '#d4a017', '#c2185b', '#2e86de', '#8e44ad', '#5d6d7e'];
const MARK_COLOR = css('--pending-ink');

// chart.options.plugins.marks.marks = [{step, label}] draws a dashed line at each step, labelled at the top.
const markerPlugin = {
  id: 'marks',
  afterDatasetsDraw(chart, _args, options) {
    const marks = options.marks || [];
    const { ctx, chartArea, scales } = chart;
    if (!marks.length || !chartArea) return;
    ctx.save();
    ctx.strokeStyle = MARK_COLOR;
    ctx.fillStyle = MARK_COLOR;
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    marks.forEach((mark, i) => {
      const x = scales.x.getPixelForValue(mark.step);
      if (x < chartArea.left - 0.5 || x > chartArea.right + 0.5) return;
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
      // Numbered flags (the list under the charts says what each number changed).
      const text = String(i + 1);
      const width = ctx.measureText(text).width + 6;
      const left = Math.min(x + 2, chartArea.right - width);
      ctx.fillRect(left, chartArea.top, width, 13);
      ctx.save();
      ctx.fillStyle = CARD;
      ctx.fillText(text, left + 3, chartArea.top + 1.5);
      ctx.restore();
    });
    ctx.restore();
  },
};

// chart.options.plugins.bands.bands = [{low, high, name}] shades horizontal bands of the y axis behind the curves
// and names each at its top left, over the curves on a light backing so that a curve passing there leaves it legible.
function bandBoxes(chart, bands) {
  const { chartArea, scales } = chart;
  return bands.map((band) => {
    const top = band.high === null ? chartArea.top : Math.max(chartArea.top, scales.y.getPixelForValue(band.high));
    const low = band.low > 0 || scales.y.type !== 'logarithmic' ? scales.y.getPixelForValue(band.low) : chartArea.bottom;
    return { name: band.name, top, bottom: Math.min(chartArea.bottom, low) };
  }).filter((box) => box.bottom > box.top);
}

const bandsPlugin = {
  id: 'bands',
  beforeDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea } = chart;
    if (!options.bands?.length || !chartArea) return;
    ctx.save();
    for (const box of bandBoxes(chart, options.bands)) {
      ctx.fillStyle = BAND_COLORS[box.name] || 'rgba(102, 112, 133, 0.1)';
      ctx.fillRect(chartArea.left, box.top, chartArea.right - chartArea.left, box.bottom - box.top);
    }
    ctx.restore();
  },
  afterDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea } = chart;
    if (!options.bands?.length || !chartArea) return;
    ctx.save();
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    for (const box of bandBoxes(chart, options.bands)) {
      const width = ctx.measureText(box.name).width + 6;
      if (box.bottom - box.top < 14) continue;  // no room for the name: the legend under the chart has it
      ctx.fillStyle = CARD;
      ctx.globalAlpha = 0.85;
      ctx.fillRect(chartArea.left + 1, box.top + 1, width, 13);
      ctx.globalAlpha = 1;
      ctx.fillStyle = MUTED;
      ctx.fillText(box.name, chartArea.left + 4, box.top + 2.5);
    }
    ctx.restore();
  },
};

// A chart without a point says so in its plot area (options.plugins.empty.text) instead of showing bare axes.
const emptyPlugin = {
  id: 'empty',
  afterDraw(chart, _args, options) {
    const { ctx, chartArea } = chart;
    if (!chartArea || !options.text || chart.data.datasets.some((set) => set.data.length)) return;
    ctx.save();
    ctx.fillStyle = MUTED;
    ctx.font = '13px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    // Wrapped to the plot's width: a half-width chart or a phone cut a one-line message at both ends.
    const lines = [];
    for (const word of options.text.split(' ')) {
      const line = lines.length ? `${lines[lines.length - 1]} ${word}` : word;
      if (lines.length && ctx.measureText(line).width <= chartArea.width - 16) lines[lines.length - 1] = line;
      else lines.push(word);
    }
    const middle = (chartArea.top + chartArea.bottom) / 2 - ((lines.length - 1) * 17) / 2;
    lines.forEach((line, i) => ctx.fillText(line, (chartArea.left + chartArea.right) / 2, middle + i * 17));
    chart.canvas.dataset.emptyLines = String(lines.length);
    ctx.restore();
  },
};

// With 'data' bounds Chart.js counts the ticks from the axis's first step and adds one at its last, whose label
// printed over the round one before it ("500" and "520" as "5020"): keep its spacing, at its whole multiples.
function roundTicks(scale) {
  const { ticks } = scale;
  const step = ticks.length > 2 ? ticks[1].value - ticks[0].value : 0;
  if (!(step > 0)) return;
  const round = [];
  for (let v = Math.ceil(scale.min / step) * step; v <= scale.max; v += step) round.push({ value: v });
  if (round.length > 1) scale.ticks = round;
}

// y: the left axis's options; scales: any other axis (a dataset's yAxisID names it).
export function makeChart(canvas, y, { legend = true, empty = 'Curves appear here as a run trains.', scales = {} } = {}) {
  const grid = { color: css('--chart-grid') };
  return new Chart(canvas, {
    type: 'line',
    data: { datasets: [] },
    plugins: [markerPlugin, bandsPlugin, emptyPlugin],
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      // No dots on a curve, but a curve of one point (a run that logged once) is a dot: a line needs two.
      elements: { point: { radius: (context) => (context.dataset.data.length === 1 ? 3 : 0), hitRadius: 6 },
        line: { borderWidth: 1.6 } },
      scales: {
        // The axis ends at the last logged step, not at the next round number beyond it, and starts at 0 or where
        // the run starts (runStart); it is labelled at round steps only (roundTicks).
        x: { type: 'linear', bounds: 'data', min: 0, title: { display: true, text: 'step', color: MUTED },
          ticks: { maxTicksLimit: 7, precision: 0 }, afterBuildTicks: roundTicks, grid },  // whole steps, even empty
        y: { ...y, grid },
        ...scales,
      },
      plugins: {
        marks: { marks: [] },
        bands: { bands: [] },
        empty: { text: empty },
        legend: { display: legend, position: 'bottom',
          labels: { boxWidth: 14, boxHeight: 2, padding: 12, filter: (item, data) => !data.datasets[item.datasetIndex].raw } },
        tooltip: { callbacks: { title: (items) => (items.length ? `step ${integer(items[0].parsed.x)}` : '') } },
      },
    },
  });
}

export function dataset(label, data, color, dashed = false) {
  return { label, data, borderColor: color, backgroundColor: color, borderDash: dashed ? [6, 4] : [] };
}

// A GAN's per-step losses at batch 16 swing 2-5x from one step to the next, so the curves are drawn as TensorBoard
// draws them: an exponential moving average, last = w * last + (1 - w) * y, divided by 1 - w^n so that its start
// is not pulled towards 0 (Adam's bias correction, Kingma & Ba 2015, section 3), bold over the faint logged values.
// On a logarithmic axis it averages log y: a ratio's 10x spike and its 0.1x dip weigh the same. A value that is
// not finite is kept as it is and does not enter the average. w = 0 gives the values themselves.
export function smooth(points, weight, log = false) {
  if (!(weight > 0)) return points;
  const out = new Array(points.length);
  let last = 0;
  let count = 0;
  for (let i = 0; i < points.length; i++) {
    const { x, y } = points[i];
    const v = log ? Math.log(y) : y;
    if (!Number.isFinite(v)) { out[i] = { x, y }; continue; }
    last = weight * last + (1 - weight) * v;
    count += 1;
    const mean = last / (1 - weight ** count);
    out[i] = { x, y: log ? Math.exp(mean) : mean };
  }
  return out;
}

// A chart's smoothed curves recomputed from their logged values (seriesOf(dataset) gives them), and its faint
// lines shown only while something is smoothed.
export function resmooth(chart, seriesOf) {
  const log = chart.options.scales.y.type === 'logarithmic';
  for (const set of chart.data.datasets) {
    if (set.raw) set.hidden = !(state.smoothing > 0);
    else set.data = smooth(seriesOf(set), state.smoothing, log);
  }
}

// The faint line of a curve's logged values under its smoothed one: the same color at a quarter of its opacity,
// left out of the legend (makeChart's filter) and hidden when nothing is smoothed.
export function rawDataset(label, data, color) {
  return { label: `${label} (each step)`, data, borderColor: `${color}40`, backgroundColor: `${color}40`, borderWidth: 1,
    raw: true, hidden: !(state.smoothing > 0) };
}

const SMOOTHING_KEY = 'dcgan.smoothing';

// The choice is kept in the browser's storage; where storage is refused (a locked-down browser) it lasts the page.
export function loadSmoothing() {
  try {
    const saved = Number.parseFloat(localStorage.getItem(SMOOTHING_KEY) ?? '');
    if (saved >= 0 && saved < 1) state.smoothing = saved;
  } catch { /* no storage: the default */ }
  return state.smoothing;
}

export function saveSmoothing(weight) {
  state.smoothing = weight;
  try { localStorage.setItem(SMOOTHING_KEY, String(weight)); } catch { /* no storage: this page only */ }
}

// Metric columns from the API (step[], series{name: []}) -> {name: [{x, y}]}, without the gaps.
export function toSeries(metrics) {
  const series = {};
  for (const [name, values] of Object.entries(metrics.series || {})) {
    series[name] = [];
    values.forEach((y, i) => { if (y !== null && y !== undefined) series[name].push({ x: metrics.step[i], y }); });
  }
  return series;
}

export function halve(points) {
  const out = [];
  for (let i = 0; i < points.length; i += 2) {
    const pair = points.slice(i, i + 2);
    out.push({ x: pair[pair.length - 1].x, y: pair.reduce((sum, p) => sum + p.y, 0) / pair.length });
  }
  return out;
}
