"""Every request and response of the API, and every WebSocket message, as pydantic models.

They are the API's contract: FastAPI validates requests against them, filters responses through them and
publishes them at /docs (OpenAPI).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from dcgan.config import MAX_NOISE_SEED

# Run folder names: what `dcgan train` makes (e.g. fashion-mnist-28-20250101-120000) and what a user would type.
# No slashes and no leading dot, so a name can never leave the runs folder.
RUN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
CHECKPOINT_NAME = r"^(step-[0-9]{7,12}\.pt|generator\.safetensors)$"
TRAINING_CHECKPOINT = r"^step-[0-9]{7,12}\.pt$"  # resume and fork need optimiser state, not just G
MAX_SEED = MAX_NOISE_SEED
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]  # a seed in a list (a group of them, a row of a grid)
MAX_PROCESSES = 16  # local training processes a dashboard start may ask for
# Sample steps one answer lists (a run with sample_every 1 saves a grid per step): about a slider's resolution in
# pixels; the count and both ends are always exact.
MAX_SAMPLE_STEPS = 1000

TrainingState = Literal["idle", "starting", "running", "paused", "stopped", "finished", "failed"]


# --- Errors ---------------------------------------------------------------------------------------------------

class FieldError(BaseModel):
    field: str | None = Field(description="the config option or parameter at fault, e.g. batch_size")
    loc: list[str | int] = Field(description="where in the request, e.g. ['body', 'config', 'batch_size']")
    reason: str


class ErrorResponse(BaseModel):
    detail: str = Field(description="one line: what was wrong and what to do")
    errors: list[FieldError] = []


# --- Training -------------------------------------------------------------------------------------------------

class Status(BaseModel):
    state: TrainingState
    run: str | None = Field(None, description="the run folder's name (under the runs folder)")
    message: str = ""
    device: str | None = None
    step: int = 0
    total_steps: int | None = None
    epoch: int = Field(0, description="epochs completed")
    steps_per_epoch: int | None = None
    images_per_s: float | None = None
    eta_s: float | None = Field(None, description="seconds left at the current speed")
    elapsed_s: float | None = None
    stop_requested: bool = False
    clients: int = Field(0, description="WebSocket clients connected")
    nproc: int = Field(1, description="training processes (more than 1: torchrun in a subprocess, which cannot be "
                       "paused, stepped or changed live)")


MAX_OPTION_TEXT = 4096  # the longest text an option holds: a path (folder:PATH, data_dir), PATH_MAX on Linux
MAX_OPTION_NAME = 64  # option names are shorter than 32 characters


def writable_text(value: Any) -> Any:
    """Options sent as free-form JSON must hold only text that can be written: JSON lets a lone UTF-16 surrogate
    ("\\ud800") through, which no config.json, log line or answer can encode (typed fields refuse it already).
    Their text is bounded too, as typed fields' is: a refusal quotes the value, so a 60 KB name would come back
    in every line of the answer."""
    if isinstance(value, dict):
        for key in value:
            if isinstance(key, str) and len(key) > MAX_OPTION_NAME:
                raise ValueError(f"an option name of {len(key):,} characters is not an option (none is longer than "
                                 f"{MAX_OPTION_NAME}); GET /api/config/schema lists them")
    pending = [value]
    while pending:  # a loop, not recursion: the body may nest as deeply as the JSON decoder allows
        item = pending.pop()
        if isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
        elif isinstance(item, str):
            if len(item) > MAX_OPTION_TEXT:
                raise ValueError(f"a text of {len(item):,} characters is longer than any option takes (at most "
                                 f"{MAX_OPTION_TEXT:,}, a path's limit); send less")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ValueError(f"{item[e.start]!r} is half of a UTF-16 surrogate pair, not text; send UTF-8 "
                                 f"text") from None
    return value


Options = Annotated[dict[str, Any], AfterValidator(writable_text)]


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    config: Options = Field(default_factory=dict, description="TrainConfig options; omitted ones take "
                                   "their defaults (see GET /api/config/schema)")
    name: str | None = Field(None, pattern=RUN_NAME, description="the run folder's name; default: "
                             "<dataset>-<size>-<date>-<time>")
    nproc: int | None = Field(None, ge=1, le=MAX_PROCESSES, description="training processes on this machine "
                              "(torchrun + DDP, gloo on CPU); default: config.world_size, else 1")
    paused: bool = Field(False, description="hold at the first step boundary (status paused), e.g. to take "
                         "single steps from the very start")


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN_NAME)
    steps: int | None = Field(None, ge=1, le=100_000_000, description="a new total (larger extends the run)")
    epochs: int | None = Field(None, ge=1, le=100_000, description="a new total in epochs")
    device: str | None = Field(None, max_length=32, description="move the run to another device")
    checkpoint: str | None = Field(None, pattern=TRAINING_CHECKPOINT, description="a file of the run's "
                                   "checkpoints/; default: its last")
    nproc: int | None = Field(None, ge=1, le=MAX_PROCESSES, description="training processes on this machine")
    paused: bool = Field(False, description="hold at the first step boundary (status paused), e.g. to take "
                         "single steps from the very start")


class ForkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str = Field(pattern=RUN_NAME, description="the parent run")
    checkpoint: str | None = Field(None, pattern=TRAINING_CHECKPOINT, description="the parent's checkpoint to "
                                   "start from (its weights, optimisers and step); default: its last")
    changes: Options = Field(default_factory=dict, description="options that differ from the parent's "
                                    "(not those that fix the networks or data: see fork_fixed in the schema)")
    name: str | None = Field(None, pattern=RUN_NAME, description="the new run's folder name")
    paused: bool = Field(False, description="hold at the first step boundary (status paused), e.g. to take "
                         "single steps from the very start")


class StepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    part: Literal["d", "g", "full"] = Field("full", description="one D update, one G update, or both")


class HyperparameterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: Options = Field(min_length=1, description="live options and their new values, e.g. "
                                    "{\"lr_d\": 0.0004}")


class Hyperparameters(BaseModel):
    run: str | None
    fields: list[str] = Field(description="the options that can change during training")
    values: dict[str, Any] = Field(description="their values now (pending changes apply at the next step)")
    changes: list["HparamMark"] = Field(description="the run's live changes so far")


class CheckpointResult(BaseModel):
    run: str
    step: int
    checkpoint: str = Field(description="the file name in the run's checkpoints/ folder")


# --- Runs -----------------------------------------------------------------------------------------------------

class RunSummary(BaseModel):
    name: str
    status: str | None = Field(None, description="from status.json; None for a run that never reported one; "
                               "interrupted: it says it trains but no trainer holds it (resume continues from "
                               "its last checkpoint, given as step); broken: it cannot be read (see broken)")
    message: str | None = Field(None, description="the run's last status message")
    broken: str | None = Field(None, description="why the run cannot be read, for a broken run")
    step: int | None = None
    total_steps: int | None = None
    device: str | None = Field(None, description="the device it last trained on (status.json), e.g. cpu, cuda:0")
    dataset: str | None = None
    image_size: int | None = None
    channels: int | None = None
    updated: float | None = Field(None, description="Unix time of the run's last status change")
    conditional: bool = False
    num_classes: int | None = None
    loss: str | None = Field(None, description="its objective (--loss; ConfigSchema.losses says whether its D(x) "
                             "and D(G(z)) are probabilities)")
    checkpoints: int = 0
    samples: int = 0
    active: bool = Field(False, description="this server is training it now")
    evaluated: bool = Field(False, description="`dcgan eval` has written eval.json (GET /api/runs/{name}/eval)")
    parent: "Parent | None" = Field(None, description="the run and step this run was forked from")


class Parent(BaseModel):
    run: str = Field(description="the parent run's name")
    step: int
    checkpoint: str | None = Field(None, description="the parent's checkpoint file name")


class RunList(BaseModel):
    runs: list[RunSummary]


class CheckpointInfo(BaseModel):
    name: str
    step: int | None
    bytes: int
    last: bool = Field(description="the run's newest complete checkpoint (what resume and generate use)")
    options: dict[str, Any] | None = Field(None, description="the run's chosen options in effect at this step "
                                           "(live changes included): what a fork from it starts from")


class RunDetail(BaseModel):
    summary: RunSummary
    config: dict[str, Any] = Field(description="the options chosen for the run (config.json); null: left to the "
                                   "defaults, which `resolved` fills in")
    resolved: dict[str, Any] = Field({}, description="the values it trains with now: its choices, live changes "
                                     "and the defaults derived from them")
    options: dict[str, Any] = Field({}, description="its chosen options now, live changes included: what a "
                                    "fork of its newest state starts from")
    checkpoints: list[CheckpointInfo]
    sample_steps: SampleSteps
    selected_checkpoint: str | None = Field(None, description="the checkpoint chosen for generation")
    changes: list["HparamMark"] = Field([], description="live hyperparameter changes (changes.json)")


class HparamMark(BaseModel):
    step: int
    field: str
    old: Any = None
    new: Any = None


class EpochMark(BaseModel):
    step: int
    epoch: int


class Metrics(BaseModel):
    """Logged metrics in columns: series[name][i] belongs to step[i]; None where a value was not finite. Names are
    the metric vocabulary's (ConfigSchema.metrics), runs written before it included."""

    step: list[int]
    epoch: list[int]
    series: dict[str, list[float | None]]
    epochs: list[EpochMark] = []
    hparams: list[HparamMark] = []
    events: list[dict[str, Any]] = Field([], description="other rows of metrics.jsonl (e.g. evaluations), as "
                                         "written")
    points: int = Field(description="logged rows before downsampling")
    downsampled: bool = Field(description="neighbouring rows were averaged to stay under max_points")


class SampleSteps(BaseModel):
    """The steps of a run's fixed-noise grids, bounded: all of them while fewer than MAX_SAMPLE_STEPS, else evenly
    thinned to between half of it and it."""

    count: int = Field(0, description="grids the run has saved")
    first: int | None = Field(None, description="the step of its first grid (None: it has none)")
    last: int | None = Field(None, description="the step of its newest grid")
    steps: list[int] = Field([], max_length=MAX_SAMPLE_STEPS, description=f"their steps in order, at most "
                             f"{MAX_SAMPLE_STEPS}: every `every`-th grid from the first, and the last; "
                             f"/samples/{{step}}.png serves any of them")
    every: int = Field(1, ge=1, description=f"steps holds the i-th grid (i from 0) when i is a multiple of this, "
                       f"and the last: the smallest power of 2 that leaves fewer than {MAX_SAMPLE_STEPS} such grids. "
                       f"A client that adds a live run's later grids by the same rule (keep the i-th when a multiple; "
                       f"when {MAX_SAMPLE_STEPS} are kept, drop every other one and double it) holds the steps this "
                       f"would answer")
    thinned: bool = Field(False, description="steps holds fewer grids than count")
    limit: int = Field(MAX_SAMPLE_STEPS, description="the most steps this list holds: a client that adds later grids "
                       "drops every other one when it holds this many (the page reads it, not a copy of it)")


class GeneratorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    checkpoint: str | None = Field(None, pattern=CHECKPOINT_NAME, description="a file of the run's checkpoints/ "
                                   "or generator.safetensors; None: the run's last checkpoint")


class GeneratorInfo(BaseModel):
    run: str
    checkpoint: str
    step: int
    image_size: int
    channels: int
    latent_dim: int
    num_classes: int = Field(0, description="classes of a conditional generator (0: unconditional)")
    class_names: list[str] = Field(default_factory=list, description="a conditional generator's classes in label "
                                   "order, as its training recorded them (a folder's sub-folders); [] unconditional")


class ArithmeticRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: list[Seed] = Field(min_length=1, max_length=64, description="seeds of group A (the paper averages three)")
    b: list[Seed] = Field(min_length=1, max_length=64)
    c: list[Seed] = Field(min_length=1, max_length=64)
    variations: int = Field(8, ge=0, le=64, description="samples of the result plus uniform noise")
    noise_scale: float = Field(0.25, ge=0, le=10, description="the noise's half-width (the paper's 0.25)")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of that noise")
    label: Annotated[int, Field(ge=0, le=999)] | Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="class of a conditional run: a number or a name (7, sneaker), as the drawings' query takes")
    checkpoint: str | None = Field(None, pattern=CHECKPOINT_NAME)


class LogTail(BaseModel):
    lines: list["LogLine"]


class RunRecord(BaseModel):
    """run.json: what reproduces the run (seed, versions, device, determinism, data fingerprint, commands)."""

    model_config = ConfigDict(extra="allow")
    seed: int | None = None
    parent: dict[str, Any] | None = None
    sessions: list[dict[str, Any]] = []


class EvalReport(BaseModel):
    """eval.json as `dcgan eval` wrote it."""

    model_config = ConfigDict(extra="allow")


# --- Side by side ------------------------------------------------------------------------------------------------

class RunMetrics(BaseModel):
    run: str
    metrics: Metrics


class CompareMetrics(BaseModel):
    runs: list[RunMetrics]


class MatchedSample(BaseModel):
    run: str
    step: int | None = Field(description="the run's sample step nearest the one asked for; None: no samples")
    url: str | None


class CompareSamples(BaseModel):
    step: int
    samples: list[MatchedSample]


class Layer(BaseModel):
    name: str
    kind: str
    output_shape: list[int]
    params: int


class Network(BaseModel):
    layers: list[Layer]
    params: int


class Architecture(BaseModel):
    generator: Network
    discriminator: Network


# --- Config and system ----------------------------------------------------------------------------------------

class ConfigField(BaseModel):
    # Later config fields may carry metadata this model does not name yet: pass it through to the page.
    model_config = ConfigDict(extra="allow")
    name: str
    type: str
    optional: bool
    default: Any = None
    help: str = ""
    group: str = "options"
    choices: list[Any] | None = None


class MetricName(BaseModel):
    """One name of the metric vocabulary (dcgan.vocabulary): the key of its series and live values."""

    name: str = Field(description="a slash name, e.g. loss/D")
    label: str = Field(description="how people read it, e.g. loss_D, D(x)")
    meaning: str


class Objective(BaseModel):
    """One GAN objective (a --loss choice, dcgan.losses.LOSSES) and the traits that change how its numbers read."""

    name: str
    source: str
    probabilities: bool = Field(description="D's outputs are logits of P(real), so D(x) and D(G(z)) (the mean "
                                "sigmoid of D's output) are probabilities; otherwise they are the sigmoid of a "
                                "score with no fixed offset")
    gradient_penalty: bool = Field(description="a Wasserstein critic with a gradient penalty: the trainer also "
                                   "logs D/W_distance, the critic's Wasserstein estimate")


class Choice(BaseModel):
    name: str = Field(description="the value a request sends")
    label: str = Field(description="what a person reads")


class ConfigSchema(BaseModel):
    fields: list[ConfigField]
    presets: dict[str, dict[str, Any]]
    live_fields: list[str] = Field(description="options that can change during training")
    fork_fixed: list[str] = Field(description="options a fork cannot change (they fix the networks and data)")
    main_groups: list[str] = Field(description="the option groups most runs set, in the order forms show them "
                                   "first; the others follow")
    launcher_options: list[str] = Field(description="options the launcher sets (world_size: a start request's "
                                        "nproc): not form fields")
    metrics: list[MetricName] = Field(description="the names a step's metrics have in series and live values, "
                                      "with their labels; a periodic evaluation adds eval/<metric>")
    losses: list[Objective] = Field(description="the objectives (--loss) and what their D(x) and D(G(z)) mean")
    interpolation_modes: list[Choice] = Field(description="the `mode` values of /interpolate.png and .gif")
    export_formats: list[Choice] = Field(description="the `format` values of /export.zip, the default first")


class ConfigRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    config: Options = Field(default_factory=dict)


class ResolvedConfig(BaseModel):
    config: dict[str, Any] = Field(description="with the dataset's native size, a length and a seed filled in")
    steps_per_epoch: int | None = Field(None, description="for one training process, where the dataset's size is "
                                        "known (a named dataset; not a folder)")
    total_steps: int | None = Field(None, description="the run's length in steps, for one training process, where "
                                    "it is known (given in steps, or a named dataset's epochs)")


class Device(BaseModel):
    device: str
    name: str


class DeviceList(BaseModel):
    devices: list[Device]


class Dataset(BaseModel):
    """A named dataset of the registry (dcgan.datasets) and where this machine has it."""

    name: str
    path: str | None = Field(description="where it would be read from offline; None: it would be downloaded")
    summary: str
    image_size: int = Field(description="native size: trained at this unless image_size says otherwise")
    channels: int
    class_names: list[str] = Field(description="empty: unlabelled")
    classifier: bool = Field(False, description="a domain classifier is installed for it (classifier features for "
                             "evaluation, attribute directions)")


class DatasetList(BaseModel):
    data_dir: str
    data_home: str = Field(description="the user's data home, searched after data_dir (`dcgan fetch` fills it)")
    datasets: list[Dataset]


class SystemInfo(BaseModel):
    version: str
    python: str
    torch: str
    torchvision: str
    threads: int
    runs_dir: str
    token_required: bool


# --- WebSocket messages (server -> client) -----------------------------------------------------------------------

class LogLine(BaseModel):
    time: float | None = None
    level: str
    message: str


class Hello(BaseModel):
    """The first message, and the one a client gets again after it fell behind: everything to draw the page."""

    type: Literal["hello"] = "hello"
    status: Status
    history: Metrics
    sample_steps: SampleSteps
    log: list[LogLine]
    heartbeat_s: float


class StepMessage(BaseModel):
    type: Literal["metrics"] = "metrics"
    run: str
    step: int
    epoch: int
    values: dict[str, float | None]
    manual: str | None = Field(None, description="a single step made while paused: d, g or dg")


class StatusMessage(BaseModel):
    type: Literal["status"] = "status"
    status: Status


class LogMessage(BaseModel):
    type: Literal["log"] = "log"
    run: str | None = Field(None, description="the run whose log the line is (the live run's); None before any run")
    line: LogLine


class SampleMessage(BaseModel):
    type: Literal["sample"] = "sample"
    run: str
    step: int
    url: str


class CheckpointMessage(BaseModel):
    type: Literal["checkpoint"] = "checkpoint"
    run: str
    step: int
    checkpoint: str


class EpochMessage(BaseModel):
    type: Literal["epoch"] = "epoch"
    run: str
    step: int
    epoch: int
    seconds: float


class HparamMessage(BaseModel):
    type: Literal["hparam"] = "hparam"
    run: str
    mark: HparamMark


class EventMessage(BaseModel):
    """Any other trainer event, forwarded as data: new kinds of events reach the page without server changes."""

    type: Literal["event"] = "event"
    run: str
    kind: str = Field(description="the event's class name, e.g. EvalResult")
    data: dict[str, Any]


class StepResult(BaseModel):
    status: Status
    metrics: StepMessage
    sample_url: str | None = Field(description="the fixed-noise grid after the step")


class Heartbeat(BaseModel):
    type: Literal["heartbeat"] = "heartbeat"
    time: float


for _model in (Hyperparameters, RunSummary, RunDetail, LogTail):
    _model.model_rebuild()


# --- Style mixing, attribute directions and the health monitor's bands (issue 20) ----------------------------

class MixBlock(BaseModel):
    block: int = Field(description="the block mixing starts at (0: G's first and smallest map)")
    channels: int
    height: int
    width: int
    output: bool = Field(description="the output layer (before Tanh): mixing there sets brightness and contrast")


class MixBlocks(BaseModel):
    """The blocks of a run's G that style mixing can start at."""

    run: str
    step: int
    blocks: list[MixBlock]


class RatioBand(BaseModel):
    name: str
    low: float
    high: float | None = Field(description="None: no upper end")
    meaning: str


class HealthBands(BaseModel):
    """The health monitor's landmarks, for charts: the G/D loss ratio's bands and the overpower thresholds."""

    ratio_metric: str = Field(description="the metric's name in metrics and the live feed")
    ratio_losses: list[str] = Field(description="the objectives the ratio and its bands apply to")
    ratio_bands: list[RatioBand]
    overpower_d_real: float
    overpower_d_fake: float
    overpower_window: int = Field(description="steps D must overpower before the monitor warns")
