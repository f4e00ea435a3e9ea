// The exported DCGAN generator, running in this browser with onnxruntime-web (WebAssembly, one thread).
// A classic script, like everything the page loads, so that it works from file:// as from any static host.
//
// Hook for tests and scripts (docs/export.md):
//   await window.dcgan.ready                      the manifest, once the model is loaded and the first grid drawn
//   await window.dcgan.generate(noise, labels)    noise: N rows of latent_dim numbers, or one flat array of
//                                                 N * latent_dim; labels: N class ids (conditional models only)
//                                                 -> {count, channels, size, pixels}: Uint8Array, N*C*H*W (NCHW)
//   await window.dcgan.drawNoise(noise, labels)   draws those images as the page's grid (canvas#grid: one canvas
//                                                 pixel per image pixel, laid out as torchvision's make_grid with
//                                                 padding 2, grey as R = G = B) -> {count, width, height, ms}
// The page's own seeds draw noise with a small seeded generator (mulberry32 + Box-Muller), not PyTorch's: seed 7
// here and `dcgan generate --seed 7` show different images.
'use strict';

(function () {
  const exported = window.DCGAN_EXPORT;
  const manifest = exported.manifest;
  const LATENT = manifest.latent_dim;
  const SIZE = manifest.image_size;
  const CHANNELS = manifest.channels;
  const CLASSES = manifest.num_classes;
  const PADDING = 2; // make_grid's default, as `dcgan generate --grid`
  const $ = (id) => document.getElementById(id);
  let ort = null;
  let session = null;

  // --- Loading: everything arrives as base64 in classic scripts (see dcgan/export/page.py) ----------------

  function bytesOf(base64) {
    const text = atob(base64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  async function gunzip(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  async function load() {
    // A file:// page may import a module from a blob: URL, not from a file beside it.
    const url = URL.createObjectURL(new Blob([bytesOf(window.ORT_WEB.bundle)], { type: 'text/javascript' }));
    ort = await import(url);
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation, which file:// and plain hosts lack
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = await gunzip(bytesOf(window.ORT_WEB.wasm));
    session = await ort.InferenceSession.create(bytesOf(exported.model), { executionProviders: ['wasm'] });
  }

  // --- Generating -------------------------------------------------------------------------------------------

  // One session.run at a time: the WebAssembly session is not re-entrant.
  let lane = Promise.resolve();
  function exclusive(task) {
    const result = lane.then(task, task);
    lane = result.catch(() => {});
    return result;
  }

  function flatNoise(noise) {
    const rows = Array.isArray(noise) && Array.isArray(noise[0]);
    const flat = Float32Array.from(rows ? noise.flat() : noise);
    if (!flat.length || flat.length % LATENT) throw new Error(`noise must be rows of ${LATENT} numbers`);
    return flat;
  }

  function classIds(labels, count) {
    if (!CLASSES) {
      if (labels && labels.length) throw new Error('this generator is unconditional: it takes no class ids');
      return null;
    }
    if (!labels || labels.length !== count) throw new Error(`a conditional generator needs ${count} class ids`);
    for (const k of labels) {
      if (!Number.isInteger(k) || k < 0 || k >= CLASSES) throw new Error(`class ids go from 0 to ${CLASSES - 1}`);
    }
    return BigInt64Array.from(labels, (k) => BigInt(k));
  }

  // G's output in [-1, 1] -> 0..255 exactly as PyTorch's to_uint8: (x + 1) * 127.5 in float32, then round half
  // to even (torch.round; Math.round rounds halves up), then clamp.
  function toPixel(x) {
    const v = Math.fround(Math.fround(x + 1) * 127.5);
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r -= 1;
    return Math.min(255, Math.max(0, r));
  }

  async function generate(noise, labels) {
    const z = flatNoise(noise);
    const count = z.length / LATENT;
    const feeds = { z: new ort.Tensor('float32', z, [count, LATENT]) };
    const ids = classIds(labels, count);
    if (ids) feeds.label = new ort.Tensor('int64', ids, [count]);
    const output = await exclusive(() => session.run(feeds));
    const values = output.image.data;
    const pixels = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) pixels[i] = toPixel(values[i]);
    return { count, channels: CHANNELS, size: SIZE, pixels };
  }

  // --- Drawing: torchvision's make_grid layout, one canvas pixel per image pixel ------------------------------

  function layout(count, columns) {
    const cols = Math.min(columns || Math.ceil(Math.sqrt(count)), count);
    const pad = count === 1 ? 0 : PADDING; // make_grid returns a lone image as it is
    const rows = Math.ceil(count / cols);
    return { cols, pad, width: cols * (SIZE + pad) + pad, height: rows * (SIZE + pad) + pad };
  }

  function draw(canvas, images, columns) {
    const { cols, pad, width, height } = layout(images.count, columns);
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext('2d');
    const frame = context.createImageData(width, height);
    const rgba = frame.data;
    for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255; // opaque black between images
    const plane = SIZE * SIZE;
    const green = CHANNELS === 3 ? plane : 0;
    const blue = CHANNELS === 3 ? 2 * plane : 0;
    for (let n = 0; n < images.count; n++) {
      const x0 = (n % cols) * (SIZE + pad) + pad;
      const y0 = Math.floor(n / cols) * (SIZE + pad) + pad;
      const base = n * CHANNELS * plane;
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          const at = ((y0 + y) * width + x0 + x) * 4;
          const p = base + y * SIZE + x;
          rgba[at] = images.pixels[p];
          rgba[at + 1] = images.pixels[p + green];
          rgba[at + 2] = images.pixels[p + blue];
        }
      }
    }
    context.putImageData(frame, 0, 0);
    // Shown enlarged with sharp pixels (CSS image-rendering: pixelated); the canvas keeps the true pixels.
    canvas.style.width = `${width * Math.max(1, Math.floor(720 / width))}px`;
  }

  async function drawNoise(noise, labels, canvas = $('grid'), columns) {
    const start = performance.now();
    const images = await generate(noise, labels);
    draw(canvas, images, columns);
    return { count: images.count, width: canvas.width, height: canvas.height, ms: performance.now() - start };
  }

  // --- The page's own noise: seeded, reproducible in any browser ----------------------------------------------

  function seededNormals(seed, count) {
    let state = seed >>> 0;
    const uniform = () => { // mulberry32
      state = (state + 0x6D2B79F5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const out = new Float32Array(count);
    for (let i = 0; i < count; i += 2) { // Box-Muller: two normals from two uniforms
      const radius = Math.sqrt(-2 * Math.log(1 - uniform())); // 1 - u is in (0, 1]: the log is finite
      const angle = 2 * Math.PI * uniform();
      out[i] = radius * Math.cos(angle);
      if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
    }
    return out;
  }

  // Spherical interpolation (White 2016): z ~ N(0, I) lives near a sphere, and slerp stays on it.
  function slerp(a, b, t) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
    const theta = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb))));
    const out = new Float32Array(a.length);
    const sin = Math.sin(theta);
    for (let i = 0; i < a.length; i++) {
      out[i] = !(sin > 1e-6) ? (1 - t) * a[i] + t * b[i]
        : (Math.sin((1 - t) * theta) * a[i] + Math.sin(t * theta) * b[i]) / sin;
    }
    return out;
  }

  // --- The controls -------------------------------------------------------------------------------------------

  const seedOf = (input) => Math.min(4294967295, Math.max(0, Math.floor(Number(input.value) || 0)));
  const stepsOf = (input) => Math.min(32, Math.max(2, Math.floor(Number(input.value) || 2)));
  // A typed value outside a box's range is drawn as its nearest allowed one; once typed, the box shows that one,
  // so the box and the status line never disagree (-5 read as seed 0 while the box kept -5).
  function settle(input, valueOf) {
    input.addEventListener('change', () => { input.value = String(valueOf(input)); });
  }

  function gridLabels(count) {
    if (!CLASSES) return null;
    const chosen = $('class').value;
    return Array.from({ length: count }, (_, i) => (chosen === '' ? i % CLASSES : Number(chosen)));
  }

  // The latest request wins: while one draws, later changes collapse into one more draw.
  function latest(task, status) {
    let running = false;
    let again = false;
    return async function run() {
      if (running) { again = true; return; }
      running = true;
      try {
        do { again = false; await task(); } while (again);
      } catch (error) {
        status.textContent = String(error.message || error);
        status.className = 'status error';
      } finally {
        running = false;
      }
    };
  }

  const renderGrid = latest(async () => {
    const seed = seedOf($('seed'));
    const count = Number($('count').value);
    // Every class in turn: a column per class (with 8 columns for 10 classes they ran diagonally).
    const inTurn = CLASSES && $('class').value === '';
    const shown = await drawNoise(seededNormals(seed, count * LATENT), gridLabels(count), $('grid'),
      inTurn ? Math.min(CLASSES, count) : undefined);
    $('status').className = 'status';
    $('status').textContent = `${count} images from seed ${seed}`
      + `${CLASSES ? (inTurn ? ', a column per class' : `, class ${className(Number($('class').value))}`) : ''}`
      + ` in ${shown.ms.toFixed(0)} ms`;
    $('download').disabled = false;
  }, $('status'));

  const renderStrip = latest(async () => {
    const steps = stepsOf($('steps'));
    const a = seededNormals(seedOf($('from-seed')), LATENT); // a seed's z is the first image of its grid
    const b = seededNormals(seedOf($('to-seed')), LATENT);
    const noise = [];
    for (let i = 0; i < steps; i++) noise.push(...slerp(a, b, i / (steps - 1)));
    const label = CLASSES ? ($('class').value === '' ? 0 : Number($('class').value)) : null;
    await drawNoise(noise, label === null ? null : Array(steps).fill(label), $('strip'), steps);
    $('interp-status').className = 'status';
    $('interp-status').textContent = `${steps} images from seed ${seedOf($('from-seed'))} to seed `
      + `${seedOf($('to-seed'))} along the great circle (slerp)${CLASSES ? `, class ${className(label)}` : ''}`;
  }, $('interp-status'));

  function className(k) {
    const name = manifest.class_names[k];
    return name && name !== String(k) ? `${k} · ${name}` : String(k);
  }

  function download() {
    $('grid').toBlob((blob) => {
      const link = document.createElement('a');
      link.href = URL.createObjectURL(blob);
      link.download = `${manifest.source.run || 'dcgan'}-step${manifest.source.step}-seed${seedOf($('seed'))}.png`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    }, 'image/png');
  }

  function describe() {
    const source = manifest.source;
    const title = `${source.run || source.checkpoint} · step ${source.step.toLocaleString('en-US')}`;
    document.title = `${title} · DCGAN generator`;
    $('title').textContent = `DCGAN generator: ${title}`;
    $('subtitle').textContent = `${source.dataset}, ${SIZE}x${SIZE} ${CHANNELS === 1 ? 'grey' : 'colour'}`
      + `${CLASSES ? `, ${CLASSES} classes` : ''}, running in your browser`;
    const rows = [['run', source.run || '–'], ['checkpoint', `${source.checkpoint} (step ${source.step})`],
      ['weights', manifest.weights], ['input', `z: ${LATENT} numbers from N(0, I)${CLASSES ? ' and a class' : ''}`],
      ['output', `${CHANNELS} x ${SIZE} x ${SIZE} in [-1, 1]`], ['data licence', manifest.data_licence]];
    const metrics = manifest.evaluation ? manifest.evaluation.metrics : null;
    if (metrics) {
      const shown = ['fid', 'kid', 'precision', 'recall'].filter((k) => k in metrics)
        .map((k) => `${k.toUpperCase()} ${Number(metrics[k].toPrecision(4))}`).join(' · ');
      rows.push(['evaluation', `${shown} (step ${manifest.evaluation.step}, ${manifest.evaluation.features})`]);
    }
    $('about').replaceChildren(...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = k;
      dd.textContent = String(v);
      return [dt, dd];
    }));
    if (CLASSES) {
      const every = new Option('every class in turn', '');
      $('class').replaceChildren(every, ...manifest.class_names.map((_, k) => new Option(className(k), String(k))));
      $('class-field').hidden = false;
    }
  }

  function wire() {
    $('seed').addEventListener('input', () => { $('seed-slider').value = String(Math.min(999, seedOf($('seed')))); renderGrid(); });
    $('seed-slider').addEventListener('input', () => { $('seed').value = $('seed-slider').value; renderGrid(); });
    $('count').addEventListener('change', renderGrid);
    $('class').addEventListener('change', () => { renderGrid(); renderStrip(); });
    for (const id of ['from-seed', 'to-seed', 'steps']) $(id).addEventListener('input', renderStrip);
    for (const id of ['seed', 'from-seed', 'to-seed']) settle($(id), seedOf);
    settle($('steps'), stepsOf);
    $('download').addEventListener('click', download);
  }

  const ready = (async () => {
    describe();
    await load();
    wire();
    await renderGrid();
    await renderStrip();
    document.body.dataset.ready = '1';
    return manifest;
  })();
  ready.catch((error) => {
    document.body.dataset.ready = 'error';
    $('status').textContent = `could not load the model: ${error.message || error}`;
    $('status').className = 'status error';
  });

  window.dcgan = { manifest, ready, generate, drawNoise, seededNormals };
}());
