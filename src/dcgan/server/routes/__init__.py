"""One APIRouter per resource: training control, runs, side-by-side comparison, system information, and the
live WebSocket. The request and response models are in dcgan.server.schemas; /docs shows them all (OpenAPI).

Every error answers JSON `{"detail": "one clear line", "errors": [{"field", "loc", "reason"}]}` with 400, 404
(no such run, checkpoint or sample), 409 (conflicts: a training is already active, none is, not paused, a
multi-process run cannot be steered), 413 (body too large), 422 (a bad value; `errors[].field` names it) or 429
(retry later: requests that draw with a generator take turns, one at a time, and at most 32 wait; those that read
metric histories, two at a time; one export at a time).
Run and checkpoint names are plain file names (`^[A-Za-z0-9][A-Za-z0-9._-]*$`, `step-NNNNNNN.pt`,
`generator.safetensors`); anything else, and anything resolving outside the runs folder, is refused.

Training (routes/training.py), one active training per server:
  GET    /api/status                        Status {state: idle|starting|running|paused|stopped|finished|failed,
                                            run, message, device, step, total_steps, epoch, steps_per_epoch,
                                            images_per_s, eta_s, elapsed_s, stop_requested, clients, nproc}
  POST   /api/training/start                {config: {TrainConfig options}, name?, nproc?: 1..16, paused?} -> 202
                                            Status; nproc > 1 (or config.world_size > 1) trains with that many
                                            local processes (torchrun, gloo on CPU); 409 while one is active
                                            paused: true holds it before its first step (single steps from 0)
  POST   /api/training/resume               {run, steps?, epochs?, device?, checkpoint?, nproc?, paused?} -> 202
  POST   /api/training/fork                 {run, checkpoint?, changes: {options}, name?, paused?} -> 202 Status of the
                                            new run (it records parent run + step; it becomes the active run)
  POST   /api/training/stop?wait_s=30       graceful: finishes the step, writes a checkpoint -> Status
  POST   /api/training/pause?wait_s=30      holds at a step boundary -> Status (state "paused")
  POST   /api/training/unpause?wait_s=30    -> Status (state "running")
  POST   /api/training/step?wait_s=30       {part: "d"|"g"|"full"} while paused -> StepResult {status,
                                            metrics: {run, step, epoch, values, manual}, sample_url}
  GET    /api/training/hyperparameters      -> Hyperparameters {fields: [live names], values: {name: value},
                                            changes: [{step, field, old, new}]}
  PATCH  /api/training/hyperparameters      {changes: {lr_g?, lr_d?, d_steps?, label_smoothing?,
                                            instance_noise?, sample_every?, checkpoint_every?}} ->
                                            Hyperparameters; other names or bad values -> 422; in effect from
                                            the next step, pushed on the WebSocket as "hparam"
  POST   /api/training/checkpoint?wait_s=30 save a checkpoint now -> {run, step, checkpoint}

Runs (routes/runs.py), any run in the runs folder, active or not:
  GET    /api/runs                          {runs: [RunSummary {name, status, step, total_steps, dataset,
                                            image_size, channels, conditional, num_classes, loss,
                                            updated, checkpoints, samples, active,
                                            parent: {run, step, checkpoint}|null}]}
                                            newest first; `parent` draws the family tree of forks
  GET    /api/runs/{name}                   RunDetail {summary, config (the choices; null = a default), resolved
                                            (the values it trains with), options (choices + live changes: a
                                            fork's base), checkpoints: [{name, step, bytes, last, options}],
                                            sample_steps: SampleSteps, selected_checkpoint, changes: [{step,
                                            field, old, new}]}
  GET    /api/runs/{name}/metrics?max_points=1000
                                            Metrics {step: [..], epoch: [..], series: {loss/D: [..], ...},
                                            epochs: [{step, epoch}], hparams: [{step, field, old, new}],
                                            events: [other metrics.jsonl rows, e.g. eval], points, downsampled}
  GET    /api/runs/{name}/samples           SampleSteps {count, first, last, steps: [..], every, thinned}: at
                                            most 1000 steps (MAX_SAMPLE_STEPS): every `every`-th grid from the
                                            first (a power of 2) and the last
  GET    /api/runs/{name}/samples/{step}.png  the fixed-noise grid at that step
  GET    /api/runs/{name}/real.png          real training images laid out as the fixed-noise grid (404 for runs
                                            started before it existed)
  GET    /api/runs/{name}/log?lines=500     {lines: [{level, message}]} (log.txt's tail)
  GET    /api/runs/{name}/record            run.json: {seed, parent, sessions: [{started, command, device,
                                            versions, determinism, dataset: {fingerprint, ...}}]}
  GET    /api/runs/{name}/eval              eval.json of `dcgan eval` (404 when the run has none)
  GET    /api/runs/{name}/architecture      {generator: {layers: [{name, kind, output_shape, params}], params},
                                            discriminator: {...}} from the real models
  GET    /api/runs/{name}/generator         {run, checkpoint, step, image_size, channels, latent_dim,
                                            num_classes} (the checkpoint generation uses)
  PUT    /api/runs/{name}/generator         {checkpoint: "step-0000100.pt"|"generator.safetensors"|null}:
                                            select it for generation (null: back to the last)
  GET    /api/runs/{name}/generate.png?count=64&seed=&label=&checkpoint=
                                            count 1..256; label = class for conditional runs (7 or bag); headers X-Seed,
                                            X-Step, X-Count
  GET    /api/runs/{name}/interpolate.png?from_seed=0&to_seed=1&steps=10&mode=slerp|lerp&label=&checkpoint=
  GET    /api/runs/{name}/interpolate.gif?...same...&fps=10
  POST   /api/runs/{name}/arithmetic.png    {a: [seeds], b: [seeds], c: [seeds], variations=8,
                                            noise_scale=0.25, seed=0, label?, checkpoint?} -> PNG of
                                            G(mean(A) - mean(B) + mean(C)) (Radford et al. 2015, figure 7)
  GET    /api/runs/{name}/export.zip?format=page|onnx|torchscript|safetensors&checkpoint=
                                            `dcgan export` as a zip: the model or page, manifest.json,
                                            MODEL_CARD.md, samples.png (429 while another export runs)

Latent space beyond interpolation (routes/latent.py):
  GET    /api/runs/{name}/mix/blocks?checkpoint=   {run, step, blocks: [{block, channels, height, width, output}]}
  GET    /api/runs/{name}/mix.png?rows=0&rows=1&cols=2&cols=3&block=K&label=&checkpoint=
                                            style mixing grid: B (cols) along the top, A (rows) down the left,
                                            A's early blocks with B's per-channel statistics from block K on
  GET    /api/runs/{name}/attribute.png?toward=sneaker&seeds=0&steps=10&distance=3&samples=2000&label=&checkpoint=
                                            a strip sliding along the direction in z that raises the domain
                                            classifier's log-odds of the class; headers X-Class, X-R2,
                                            X-Probabilities (mnist/fashion-mnist runs; 422 otherwise)

Health (routes/health.py):
  GET    /api/health/bands                  {ratio_metric: "loss/ratio", ratio_losses, ratio_bands: [{name, low,
                                            high, meaning}], overpower_d_real, overpower_d_fake, overpower_window}

Side by side (routes/compare.py):
  GET    /api/compare/metrics?runs=a&runs=b&max_points=1000   {runs: [{run, metrics: Metrics}]}; runs x
                                            max_points at most 40,000
  GET    /api/compare/samples?runs=a&runs=b&step=N            {step, samples: [{run, step|null, url|null}]}
                                            each run's grid at the sample step nearest N

System (routes/system.py):
  GET    /api/system                        versions, threads, runs_dir, token_required
  GET    /api/system/devices                {devices: [{device, name}]}
  GET    /api/system/datasets?data_dir=./data  {data_dir, data_home, datasets: [{name, path|null, summary,
                                            image_size, channels, class_names}]} (the registry; path: offline)
  GET    /api/config/schema                 {fields: [{name, type, optional, default, help, group, choices,
                                            ge, gt, le, lt}], presets, live_fields, fork_fixed,
                                            main_groups, launcher_options, metrics: [{name, label, meaning}],
                                            losses: [{name, source, probabilities, gradient_penalty}]}
                                            (metrics: the vocabulary of series and live values, dcgan.vocabulary;
                                            losses: the objectives, dcgan.losses.LOSSES: are D(x) and D(G(z))
                                            probabilities, is D/W_distance logged)
  POST   /api/config/resolve                {config} -> {config: resolved} (422 names a bad option)
  POST   /api/config/architecture           {config} -> Architecture

Live (routes/live.py):
  WS     /api/live                          server -> client JSON messages, each with "type":
    hello      {status, history: Metrics, sample_steps: SampleSteps, log: [{time, level, message}],
               heartbeat_s} first, and again whenever a new run starts or the client fell too far behind
               (redraw everything from it)
    metrics    {run, step, epoch, values: {loss/D, loss/G, D/real, D/fake, lr/G, ...}, manual}
    status     {status: Status}
    log        {run, line: {time, level, message}}   a line of the live run's log (run: its name)
    sample     {run, step, url}
    checkpoint {run, step, checkpoint}
    epoch      {run, step, epoch, seconds}
    hparam     {run, mark: {step, field, old, new}}
    event      {run, kind, data}   any other trainer event (new metric kinds reach the page unchanged)
    heartbeat  {time}
  What a client sends is ignored (one that keeps sending, beyond a burst of 32 then one a second, is closed with
  code 1008). A client that does not read is resynced (one fresh hello), never waited for.
  At most Settings.max_clients (64) clients at once, /ws included; one more is closed with code 1013 and a reason.

Seed 000's API (routes/seed000.py), a thin layer over the above for clients of the "DCGAN Interactive Demo":
  GET / (JSON API information to a client asking for JSON, else the page), GET /status, GET /metrics,
  POST /start_training, /stop_training, /generate, /save_model, /load_model, WS /ws; shapes in routes/seed000.py.
"""
