"""`dcgan eval` end to end on real short Fashion-MNIST runs, and evaluation during training."""

import json

import pytest

from dcgan import Trainer, TrainConfig
from dcgan.data import ImageData, to_format
from dcgan.metrics.evaluate import evaluate_run
from dcgan.rundir import EVAL_FILE, read_metrics
from conftest import run_cli


def small(**kw):
    base = dict(seed=3, batch_size=32, g_width=16, d_width=16, log_every=10, tensorboard=False)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, fashion):
    run = tmp_path_factory.mktemp("eval") / "run"
    Trainer(small(steps=30), run_dir=run, data=fashion).run()
    return run


def test_dcgan_eval_prints_a_table_and_writes_eval_json(short_run):
    done = run_cli("eval", str(short_run), "-n", "500", "--max-reference", "5000", timeout=300)
    assert done.returncode == 0, done.stderr
    for label in ("FID", "KID", "precision", "recall", "classifier score (IS)", "classes covered", "class KL",
                  "diversity", "nearest-neighbour ratio", "T-shirt/top"):
        assert label in done.stdout
    assert "Inception-v3 weights are not on this machine" in done.stdout  # why auto chose the classifier
    # The feature space is part of the result (the table's first line), not also a progress line on stderr.
    features = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("features:")]
    assert len(features) == 1 and features[0] in done.stdout.splitlines()
    assert features[0].startswith("features: fashion-mnist classifier (128-d), test accuracy ")
    report = json.loads((short_run / EVAL_FILE).read_text())
    assert report["samples"] == 500 and report["reference_images"] == 5000
    assert report["features"]["space"] == "classifier" and report["source"]["step"] == 30
    m = report["metrics"]
    for key in ("fid", "kid", "precision", "recall", "is", "classes_covered", "class_kl", "diversity",
                "nn_ratio", "copies"):
        assert isinstance(m[key], float), key
    # KID's subsets of up to 1,000 are all 500 samples here: one value, no "± 0.00000" spread.
    assert "kid_std" not in m
    kid_row = next(line for line in done.stdout.splitlines() if line.startswith("KID "))
    assert "±" not in kid_row and "all 500 samples" in kid_row
    assert m["fid"] > 0 and len(report["details"]["class_histogram"]) == 10


def test_an_mnist_run_is_evaluated_with_the_shipped_mnist_classifier(mnist, tmp_path):
    run = tmp_path / "mnist-run"
    Trainer(small(dataset="mnist", steps=20), run_dir=run, data=mnist).run()
    done = run_cli("eval", str(run), "-n", "500", "--max-reference", "5000", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "features: mnist classifier (128-d), test accuracy 99." in done.stdout
    assert "7 - seven" in done.stdout  # the digits' class histogram
    report = json.loads((run / EVAL_FILE).read_text())
    assert report["features"]["space"] == "classifier" and report["features"]["test_accuracy"] >= 0.99
    assert report["features"]["weights"].endswith("weights/mnist-classifier.safetensors")
    assert report["metrics"]["fid"] > 0 and len(report["details"]["class_histogram"]) == 10


def test_dcgan_eval_errors_are_one_line(short_run):
    done = run_cli("eval", str(short_run), "-n", "1")
    assert done.returncode == 2 and "Traceback" not in done.stderr and "-n must be" in done.stderr
    done = run_cli("eval", str(short_run), "--features", "inception", "-n", "10",
                   env={"TORCH_HOME": str(short_run / "no-torch-home")})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--inception-weights PATH" in done.stderr
    done = run_cli("eval", str(short_run), "--metrics", "fid,nosuch")
    assert done.returncode == 2 and "unknown metric 'nosuch'" in done.stderr
    assert "scoring" not in done.stderr  # refused before the reference and the samples are made


def test_a_disk_that_refuses_eval_json_loses_no_scores(short_run, monkeypatch, capsys):
    """The table is printed before eval.json is written; the refusal is one line (exit 1), no traceback."""
    import errno

    from dcgan.cli import main

    def full_disk(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("dcgan.rundir.atomic_write_text", full_disk)
    before = (short_run / EVAL_FILE).read_bytes() if (short_run / EVAL_FILE).exists() else None
    assert main(["eval", str(short_run), "-n", "8", "--max-reference", "8"]) == 1
    out, err = capsys.readouterr()
    assert "FID" in out and "precision" in out
    assert err.splitlines()[-1] == (f"dcgan eval: error: No space left on device ({short_run / EVAL_FILE}); free "
                                    f"some space on that disk, or choose a folder on another one (the scores are "
                                    f"above; --no-write prints them without writing eval.json)")
    after = (short_run / EVAL_FILE).read_bytes() if (short_run / EVAL_FILE).exists() else None
    assert after == before


def test_the_fewest_samples_and_seeds_up_to_2_63_evaluate(short_run):
    """4 samples and 4 real images are enough for every metric (precision and recall's k=3 neighbours), and a
    noise seed beyond numpy's 32 bits is what `dcgan generate --seed` takes too."""
    report = evaluate_run(short_run, samples=4, max_reference=4, seed=2**63 - 1, write=False)
    assert report.samples == 4 and report.reference_images == 4 and report.seed == 2**63 - 1
    assert {"fid", "kid", "precision", "recall", "nn_ratio"} <= set(report.metrics)


@pytest.mark.parametrize("kwargs, words", [
    ({"samples": 3}, "-n must be between 4 and 100000"),
    ({"max_reference": 3}, "--max-reference must be at least 4"),
    ({"seed": -1}, "seed must be a seed from 0 to 2**63 - 1"),
    ({"seed": 2**63}, "seed must be a seed from 0 to 2**63 - 1"),
    ({"inception_weights": "nothere.pth"}, "--inception-weights nothere.pth does not exist"),
    ({"classifier": "nothere.safetensors"}, "--classifier nothere.safetensors does not exist"),
])
def test_evaluate_run_refuses_what_it_cannot_measure(short_run, kwargs, words):
    """A mistyped weights path is an error, not a silent fall back to another feature space."""
    from dcgan.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        evaluate_run(short_run, **{"samples": 50, "max_reference": 100, "write": False, **kwargs})
    assert words in str(refused.value)


def test_a_64px_grey_run_evaluates_with_the_28px_classifier(fashion, tmp_path):
    run = tmp_path / "run64"
    data = ImageData(to_format(fashion.images[:256], 64, 1), fashion.labels[:256])
    Trainer(small(steps=4, image_size=64, batch_size=16, checkpoint_every=4), run_dir=run, data=data).run()
    report = evaluate_run(run, samples=200, max_reference=2000)
    assert report.source["image_size"] == 64 and report.features["space"] == "classifier"
    assert report.samples == 200 and report.reference_images == 2000
    assert report.metrics["fid"] > 0 and (run / EVAL_FILE).is_file()


def test_evaluation_during_training_logs_eval_metrics(fashion, tmp_path):
    run = tmp_path / "run"
    data = ImageData(fashion.images[:4000], fashion.labels[:4000])  # a small reference keeps the test quick
    trainer = Trainer(small(steps=20, eval_every=10, eval_samples=200), run_dir=run, data=data)
    assert trainer.run() == "finished"
    rows = [r for r in read_metrics(run / "metrics.jsonl") if "eval/fid" in r]
    assert [r["step"] for r in rows] == [10, 20]
    assert {"eval/fid", "eval/kid", "eval/precision", "eval/recall", "eval/coverage", "eval/classes_covered",
            "eval/diversity", "loss/D"} <= set(rows[0])
    log = (run / "log.txt").read_text()
    assert "eval at step 10 (200 samples, fashion-mnist classifier): FID" in log


def test_a_conditional_run_is_scored_on_drawing_the_class_asked_for(fashion, tmp_path):
    """Class accuracy: the share of a conditional G's samples that the classifier puts in the class G was asked
    for, overall and per class, in the table beside the class histogram."""
    from dcgan.commands.eval import format_table
    from dcgan.metrics.evaluate import sample_labels
    from dcgan.metrics.features import classifier_features
    from dcgan.sampling import load_generator

    run = tmp_path / "cond"
    Trainer(small(steps=2, conditional=True), run_dir=run, data=fashion).run()
    report = evaluate_run(run, samples=200, max_reference=1000, write=False)
    g = load_generator(run)
    labels = sample_labels(200, 10, fashion.labels, seed=0)  # the classes evaluate_run asks for
    hits = classifier_features("fashion-mnist")(g.generate(g.noise(200, seed=0), labels)).logits.argmax(1) == labels
    assert report.metrics["class_accuracy"] == pytest.approx(hits.double().mean().item())
    assert report.details["class_accuracy"][7] == pytest.approx(hits[labels == 7].double().mean().item())
    table = format_table(report)
    assert "class accuracy" in table and "classified as the class asked for; chance: 10%" in table
    assert "class histogram (samples / real), class accuracy:" in table
