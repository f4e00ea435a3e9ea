"""One APIRouter per resource: training control, runs, latent tools, health, side-by-side comparison, system
information, and the live WebSocket. The fields of every request and answer are in dcgan.server.schemas and
/docs (OpenAPI); below, one line per route: its body, if any, -> its answer, and what it is for.
tests/server/test_routes.py checks this list against the routes the app serves.

Every error answers ErrorResponse `{"detail": "one clear line", "errors": [{"field", "loc", "reason"}]}` with 400,
404 (no such run, checkpoint or sample), 409 (conflicts: a training is already active, none is, not paused, a
multi-process run cannot be steered), 413 (body too large), 422 (a bad value; `errors[].field` names it) or 429
(retry later: requests that draw with a generator take turns, one at a time, and at most 32 wait; those that read
metric histories, two at a time; one export at a time).
Run and checkpoint names are plain file names (`^[A-Za-z0-9][A-Za-z0-9._-]*$`, `step-NNNNNNN.pt`,
`generator.safetensors`); anything else, and anything resolving outside the runs folder, is refused.

Training (routes/training.py), one active training per server:
  GET    /api/status                                  -> Status: idle, starting, running, paused, stopped, ...
  POST   /api/training/start              StartRequest -> 202 Status: a new run (nproc > 1: local processes)
  POST   /api/training/resume            ResumeRequest -> 202 Status: a run from its last (or named) checkpoint
  POST   /api/training/fork                ForkRequest -> 202 Status: a new run from a checkpoint, with changes
  POST   /api/training/stop                           -> Status: after the step, with a checkpoint (?wait_s=)
  POST   /api/training/pause                          -> Status: held at a step boundary
  POST   /api/training/unpause                        -> Status: running again
  POST   /api/training/step                StepRequest -> StepResult: one D, G or full step while paused
  GET    /api/training/hyperparameters                -> Hyperparameters: the live values and their changes
  PATCH  /api/training/hyperparameters HyperparameterRequest -> Hyperparameters: in effect from the next step
  POST   /api/training/checkpoint                     -> CheckpointResult: a checkpoint now

Runs (routes/runs.py), any run in the runs folder, active or not:
  GET    /api/runs                                    -> RunList: newest first; `parent` draws the fork tree
  GET    /api/runs/{name}                             -> RunDetail: config, resolved values, checkpoints
  GET    /api/runs/{name}/metrics                     -> Metrics: the logged series, averaged to max_points
  GET    /api/runs/{name}/samples                     -> SampleSteps: the grids' steps, at most `limit`
  GET    /api/runs/{name}/samples/{step}.png          -> PNG: the fixed-noise grid at that step
  GET    /api/runs/{name}/real.png                    -> PNG: real training images laid out as that grid
  GET    /api/runs/{name}/log                         -> LogTail: log.txt's last lines
  GET    /api/runs/{name}/record                      -> RunRecord: run.json, what reproduces the run
  GET    /api/runs/{name}/eval                        -> EvalReport: eval.json of `dcgan eval`
  GET    /api/runs/{name}/architecture                -> Architecture: the real models' layers
  GET    /api/runs/{name}/generator                   -> GeneratorInfo: the checkpoint generation uses
  PUT    /api/runs/{name}/generator   GeneratorRequest -> GeneratorInfo: select it (null: back to the last)
  GET    /api/runs/{name}/generate.png                -> PNG: a grid of samples (X-Seed, X-Step headers)
  GET    /api/runs/{name}/interpolate.png             -> PNG: a walk in z between two seeds, as a strip
  GET    /api/runs/{name}/interpolate.gif             -> GIF: the same walk, animated
  POST   /api/runs/{name}/arithmetic.png ArithmeticRequest -> PNG: G(mean A - mean B + mean C) (Radford et al.)
  GET    /api/runs/{name}/export.zip                  -> ZIP: `dcgan export` (model or page, manifest, card)

Latent space beyond interpolation (routes/latent.py):
  GET    /api/runs/{name}/mix/blocks                  -> MixBlocks: the generator's blocks to mix from
  GET    /api/runs/{name}/mix.png                     -> PNG: style mixing, A's early blocks in B's style
  GET    /api/runs/{name}/attribute.png               -> PNG: a slide toward a class (X-Class, X-R2 headers)

Health (routes/health.py):
  GET    /api/health/bands                            -> HealthBands: the loss ratio's bands, overpower bounds

Side by side (routes/compare.py):
  GET    /api/compare/metrics                         -> CompareMetrics: several runs' Metrics
  GET    /api/compare/samples                         -> CompareSamples: each run's grid nearest a step

System (routes/system.py):
  GET    /api/system                                  -> SystemInfo: versions, threads, runs folder
  GET    /api/system/devices                          -> DeviceList: where training can run
  GET    /api/system/datasets                         -> DatasetList: the registry, and what is offline
  GET    /api/config/schema                           -> ConfigSchema: the options and the page's lists
  POST   /api/config/resolve             ConfigRequest -> ResolvedConfig: the values a config trains with
  POST   /api/config/architecture        ConfigRequest -> Architecture: the networks it would build

Live (routes/live.py):
  WS     /api/live                                    -> Hello, then StepMessage ("metrics"), StatusMessage,
         LogMessage, SampleMessage, CheckpointMessage, EpochMessage, HparamMessage, EventMessage, Heartbeat
  Each message is JSON with a "type"; the Hello comes first, and again whenever a new run starts or the client fell
  too far behind (redraw everything from it). What a client sends is ignored (one that keeps sending, beyond a
  burst of 32 then one a second, is closed with code 1008). A client that does not read is resynced (one fresh
  hello), never waited for. At most Settings.max_clients (64) clients at once, /ws included; one more is closed
  with code 1013 and a reason.

Seed 000's API (routes/seed000.py), a thin layer over the above for clients of the "DCGAN Interactive Demo":
  GET    /                                            -> ApiInfo: to a client asking for JSON, else the page
  GET    /status                                      -> SeedStatus
  GET    /metrics                                     -> SeedMetrics
  POST   /start_training                 StartTraining -> Started
  POST   /stop_training                               -> Stopped
  POST   /generate                     GenerateRequest -> Generated
  POST   /save_model                                  -> SavedModel
  POST   /load_model                       LoadRequest -> SavedModel
  WS     /ws                                          -> seed 000's messages
"""
