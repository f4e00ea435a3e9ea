"""Sharing a generator: ONNX that onnxruntime runs like PyTorch (same noise, any batch) for unconditional and
conditional G at 28, 32 and 64 pixels; TorchScript and safetensors exports; the manifest and the model card;
`dcgan export` on a real run folder (EMA weights, eval.json, one-line errors, nothing half-written)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from conftest import run_cli
from dcgan.cli import main
from dcgan.checkpoint import load_checkpoint, resolve_checkpoint
from dcgan.config import TrainConfig
from dcgan.data import ImageData
from dcgan.export import export_loaded, export_run, write_onnx
from dcgan.images import to_uint8
from dcgan.models import build_generator
from dcgan.sampling import LoadedGenerator, load_generator
from dcgan.training import Trainer

# |onnxruntime - PyTorch| on G's output in [-1, 1] for the same z. One grey level is 2/255 = 7.8e-3; measured
# differences are ~1e-7 (float32 summation order), so 1e-5 leaves 100x headroom and still fails any real bug.
TOLERANCE = 1e-5


def init_generator(image_size: int, conditional: bool) -> LoadedGenerator:
    """G of a real config at initialisation, changed as training changes it: BatchNorm's running statistics
    and affine parameters away from their defaults (the ONNX optimiser folds BatchNorm into the convolutions,
    and the identity statistics of a fresh G would let a wrong fold pass), and an output layer whose images
    span [-1, 1] instead of the near-zero ones of N(0, 0.02) weights."""
    config = TrainConfig(dataset="fashion-mnist" if image_size == 28 else "cifar10", image_size=image_size,
                         g_width=8, latent_dim=16, conditional=conditional, num_classes=10 if conditional else None,
                         seed=0).resolved()
    torch.manual_seed(image_size + conditional)
    model = build_generator(config).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_(1, 0.2)
            m.bias.data.normal_(0, 0.2)
    model.main[-2].weight.data.normal_(0, 0.2)  # the last transposed convolution, before Tanh
    return LoadedGenerator(model, config, step=0, source="init")


def tiny_run(folder, fashion, **overrides):
    """A real run folder: a few real steps on real Fashion-MNIST images (a large learning rate, so that G and
    its moving average differ clearly after them)."""
    values = dict(dataset="fashion-mnist", steps=4, batch_size=16, g_width=8, d_width=8, latent_dim=16, seed=0,
                  sample_every=1000, tensorboard=False, ema=0.5, lr=5e-3)
    data = ImageData(fashion.images[:256], fashion.labels[:256], fashion.class_names, fashion.source)
    Trainer(TrainConfig(**{**values, **overrides}), run_dir=folder, data=data).run()
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory, fashion):
    return tiny_run(tmp_path_factory.mktemp("export") / "tiny", fashion)


def onnx_output(path, z: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {"z": z.numpy()} | ({"label": labels.numpy()} if labels is not None else {})
    return session.run(None, feeds)[0]


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("image_size", [28, 32, 64])
def test_onnx_runs_like_pytorch_on_the_same_noise(tmp_path, image_size, conditional):
    g = init_generator(image_size, conditional)
    details = write_onnx(g, tmp_path / "g.onnx")
    assert details["opset"] >= 17
    for batch in (5, 1):  # the export traced a batch of 2: the batch axis is dynamic
        z = torch.randn(batch, 16, generator=torch.Generator().manual_seed(batch))
        labels = torch.arange(batch) % 10 if conditional else None
        with torch.no_grad():
            expected = g.model(z, labels).numpy()
        got = onnx_output(tmp_path / "g.onnx", z, labels)
        assert got.shape == (batch, 1 if image_size == 28 else 3, image_size, image_size)
        assert expected.std() > 0.2  # a real image, not a constant that anything would match
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
        pixels = (to_uint8(torch.from_numpy(got)).int() - to_uint8(torch.from_numpy(expected)).int()).abs()
        assert pixels.max() <= 1


def test_export_writes_the_ema_generator_with_a_manifest_a_card_and_samples(run, tmp_path):
    result = run_cli("export", str(run), "--format", "onnx", "--out", str(tmp_path / "share"))
    assert result.returncode == 0, result.stderr
    assert "exported tiny (step 4) as onnx" in result.stdout
    share = tmp_path / "share"
    assert sorted(p.name for p in share.iterdir()) == ["MODEL_CARD.md", "generator.onnx", "manifest.json",
                                                        "samples.png"]
    manifest = json.loads((share / "manifest.json").read_text())
    assert manifest["latent_dim"] == 16 and manifest["image_size"] == 28 and manifest["channels"] == 1
    assert manifest["num_classes"] == 0 and manifest["output"]["range"] == [-1.0, 1.0]
    assert "127.5" in manifest["output"]["to_pixels"]
    assert manifest["source"] | {"config": None} == {"run": "tiny", "checkpoint": "step-0000004.pt", "step": 4,
                                                      "dataset": "fashion-mnist", "config": None}
    assert manifest["weights"].startswith("exponential moving average")
    # The file holds the EMA weights, which differ from G's after 4 steps with decay 0.5.
    ckpt = load_checkpoint(resolve_checkpoint(run))
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    ema, raw = build_generator(load_generator(run).config), build_generator(load_generator(run).config)
    ema.load_state_dict(ckpt["G_ema"])
    raw.load_state_dict(ckpt["G"])
    with torch.no_grad():
        want, other = ema.eval()(z).numpy(), raw.eval()(z).numpy()
    got = onnx_output(share / "generator.onnx", z, None)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)
    assert np.abs(got - other).max() > 100 * TOLERANCE
    # The layers as PyTorch writes them, named as the weights are: enough to rebuild G without dcgan.
    layers = manifest["architecture"]
    assert [layer["name"] for layer in layers] == [name for name, m in raw.named_modules() if not list(m.children())]
    assert layers[0]["module"].startswith("ConvTranspose2d(16, ") and layers[-1] == {
        "name": "main.7", "module": "Tanh()", "output_shape": [1, 28, 28]}
    card = (share / "MODEL_CARD.md").read_text()
    assert "| `main.3` | `ConvTranspose2d(" in card and "stride=(2, 2), padding=(1, 1)" in card
    for heading in ("## Architecture", "## Data", "## Training recipe", "## Training time and device", "## Evaluation",
                    "## Known limits", "## Licence"):
        assert heading in card
    assert "Zalando" in card and "on cpu" in card and "![samples](samples.png)" in card and "Not evaluated" in card


def test_the_manifest_and_card_carry_the_runs_evaluation(run, tmp_path):
    from dcgan.metrics.evaluate import evaluate_run

    run = shutil.copytree(run, tmp_path / "tiny")  # eval.json goes into this copy only
    report = evaluate_run(run, samples=64, max_reference=512, metrics=["fid", "pr", "modes"])
    done = export_run(run, tmp_path / "evaluated", format="safetensors")
    evaluation = done.manifest["evaluation"]
    assert evaluation["step"] == 4 and evaluation["samples"] == 64
    assert evaluation["metrics"]["fid"] == pytest.approx(report.metrics["fid"])
    card = (tmp_path / "evaluated" / "MODEL_CARD.md").read_text()
    assert f"| FID | {report.metrics['fid']:.3f} |" in card
    assert "domain classifier, not Inception-v3" in card  # what the numbers cannot be compared with
    # Every table row has its three cells ("KL(samples || real)" must not split one).
    rows = [line for line in card.splitlines() if line.startswith("| ")]
    assert rows and all(len(re.findall(r"(?<!\\)\|", line)) == 4 for line in rows)


@pytest.mark.parametrize("format", ["onnx", "torchscript", "safetensors"])
def test_no_local_path_leaves_in_any_exported_file(run, tmp_path, format):
    """Not in the manifest or card, nor in the model file: the ONNX exporter's per-node stack traces, TorchScript's
    source maps and the safetensors config's data folder named this machine's paths."""
    import dcgan

    done = export_run(run / "checkpoints" / "step-0000004.pt", tmp_path / "out", format=format)
    local = [str(run.parent).encode(), str(Path(dcgan.__file__).parent.parent).encode(), str(Path.home()).encode()]
    for path in done.folder.iterdir():
        data = path.read_bytes()
        assert not [p for p in local if p in data], (path.name, [p for p in local if p in data])
    assert done.manifest["source"]["run"] == "tiny"  # found from the checkpoint file's folder


def test_a_folder_runs_class_names_are_those_it_trained_with(tmp_path):
    """Recorded at training (checkpoints, generator.safetensors), not read from the folder again: renaming a
    sub-folder afterwards would name label 0 after another class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("blue", "red"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(16):
            pixels = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    config = TrainConfig(dataset=f"folder:{tmp_path / 'imgs'}", image_size=28, conditional=True, steps=2,
                         batch_size=8, g_width=8, d_width=8, latent_dim=16, seed=0, tensorboard=False)
    Trainer(config, run_dir=tmp_path / "run").run()
    (tmp_path / "imgs" / "red").rename(tmp_path / "imgs" / "aaa")
    done = export_run(tmp_path / "run", tmp_path / "out", format="safetensors")
    assert done.manifest["class_names"] == ["blue", "red"]
    assert load_generator(done.folder / "generator.safetensors").class_names == ["blue", "red"]
    assert load_generator(tmp_path / "run" / "generator.safetensors").class_names == ["blue", "red"]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")  # docs/export.md says so
def test_torchscript_export_runs_any_batch_without_this_package(run, tmp_path):
    done = export_run(run, tmp_path / "ts", format="torchscript")
    traced = torch.jit.load(str(done.folder / "generator.pt"))
    g = load_generator(run)
    z = torch.randn(7, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(traced(z), g.model(z), atol=TOLERANCE, rtol=0)


def test_safetensors_export_loads_with_load_generator(run, tmp_path):
    done = export_run(run, tmp_path / "st", format="safetensors")
    assert torch.equal(load_generator(done.folder / "generator.safetensors").sample(8, seed=2).tensor,
                       load_generator(run).sample(8, seed=2).tensor)


def test_a_conditional_export_names_its_classes_and_takes_labels(tmp_path, fashion):
    run = tiny_run(tmp_path / "cond", fashion, conditional=True, steps=2)
    done = export_run(run, tmp_path / "out", format="onnx")
    m = done.manifest
    assert m["num_classes"] == 10 and m["class_names"][7] == "Sneaker"
    assert [i["name"] for i in m["inputs"]] == ["z", "label"] and m["inputs"][1]["dtype"] == "int64"
    g = load_generator(run)
    z, labels = g.noise(10, seed=3), torch.arange(10)
    with torch.no_grad():
        expected = g.model(z, labels).numpy()
    np.testing.assert_allclose(onnx_output(done.folder / "generator.onnx", z, labels), expected, rtol=0,
                               atol=TOLERANCE)
    assert "| `conditional` | True |" in (done.folder / "MODEL_CARD.md").read_text()


def test_an_existing_folder_is_never_overwritten(run, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["export", str(run), "--format", "safetensors", "--out", str(out)]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no temporary folder left behind


def test_a_failed_export_leaves_nothing(tmp_path, monkeypatch):
    import dcgan.export.write as export

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "export_generator", broken)
    with pytest.raises(RuntimeError):
        export_loaded(init_generator(28, False), tmp_path / "out", format="safetensors")
    assert list(tmp_path.iterdir()) == []


def test_export_of_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
