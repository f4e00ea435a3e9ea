"""The resource budget (issue 18): what a config costs, estimated before anything is built, and the limits that
refuse what a machine cannot hold."""

from __future__ import annotations

import time

import pytest

from dcgan import budget
from dcgan.config import TrainConfig
from dcgan.errors import ConfigError
from dcgan.models import build_discriminator, build_generator

HUGE = dict(g_width=1024, d_width=1024, latent_dim=4096, image_size=256)  # each value inside its allowed range


@pytest.mark.parametrize("options", [
    {}, dict(image_size=64, channels=3, spectral_norm=True), dict(conditional=True, num_classes=10),
    dict(conditional=True, num_classes=10, d_conditioning="concat", loss="wgan-gp"), dict(image_size=16, d_norm="none"),
])
def test_parameter_counts_match_the_real_models(options):
    config = TrainConfig(**options).resolved()
    profile = budget.model_profile(config)
    assert profile.g_params == sum(p.numel() for p in build_generator(config).parameters())
    assert profile.d_params == sum(p.numel() for p in build_discriminator(config).parameters())
    assert 0 < profile.g_peak <= profile.g_activations


def test_billions_of_parameters_are_measured_without_being_allocated():
    budget.warm_up()
    started = time.perf_counter()
    cost = budget.training_cost(TrainConfig(**HUGE).resolved())
    seconds = time.perf_counter() - started
    profile = budget.model_profile(TrainConfig(**HUGE).resolved())
    assert profile.g_params + profile.d_params > 6e9
    assert cost.model > 90 * 2**30
    print(f"estimated a {(profile.g_params + profile.d_params) / 1e9:.1f}B-parameter config in {seconds:.3f} s")


def test_an_oversized_model_is_refused_naming_the_width():
    cost = budget.training_cost(TrainConfig(**HUGE).resolved())
    with pytest.raises(ConfigError, match=r"more than the budget of 8\.0 GiB .*; lower g_width$") as e:
        budget.check(cost, 8 * 2**30)
    assert e.value.field == "g_width" and "\n" not in str(e.value)


@pytest.mark.parametrize("options,field", [
    (dict(batch_size=65536), "batch_size"),
    (dict(image_size=256, channels=3, batch_size=4), "image_size"),  # 60,000 images at 256x256x3 in memory
])
def test_the_largest_part_names_the_option_to_lower(options, field):
    with pytest.raises(ConfigError) as e:
        budget.check(budget.training_cost(TrainConfig(**options).resolved()), 4 * 2**30)
    assert e.value.field == field and str(e.value).endswith(f"lower {field}")


def test_each_process_holds_its_own_copy():
    config = TrainConfig().resolved()
    one, four = budget.training_cost(config), budget.training_cost(config, processes=4)
    assert four.total == 4 * one.total
    with pytest.raises(ConfigError) as e:
        budget.check(four, 2 * one.total)
    assert e.value.field == "nproc"


def test_the_default_config_fits_the_default_budget():
    assert budget.training_cost(TrainConfig().resolved()).total < budget.default_budget()
    assert budget.default_budget() <= budget.machine_memory()


def test_a_folder_dataset_counts_its_images_without_reading_them(tmp_path):
    (tmp_path / "pics" / "a").mkdir(parents=True)
    for i in range(5):
        (tmp_path / "pics" / "a" / f"{i}.png").write_bytes(b"not read")
    (tmp_path / "pics" / "notes.txt").write_text("not an image")
    config = TrainConfig(dataset=f"folder:{tmp_path / 'pics'}").resolved()
    assert budget.training_cost(config).dataset_images == 5


def test_processes_are_capped_by_the_machine():
    limit = budget.machine_processes()
    assert limit >= 1
    budget.check_processes(limit, limit)
    with pytest.raises(ConfigError, match=f"more training processes than the {limit} this machine"):
        budget.check_processes(limit + 1, limit)


def test_the_disk_estimate_of_a_run_holds_what_it_writes(fashion, tmp_path):
    """A real run of the defaults' networks: its folder against the estimate, part by part."""
    from dcgan.training import Trainer

    config = TrainConfig(steps=30, checkpoint_every=10, keep_checkpoints=2, sample_every=10, log_every=1,
                         tensorboard=False, seed=0).resolved()
    Trainer(config, run_dir=tmp_path / "r", data=fashion).run()
    parts = budget.disk_cost(config, budget.planned_steps(config))
    folder = tmp_path / "r"
    largest = max(p.stat().st_size for p in (folder / "checkpoints").glob("*.pt"))
    most = (config.keep_checkpoints + 1) * largest + (folder / "generator.safetensors").stat().st_size
    assert most <= parts["checkpoints"] < 1.1 * most  # the kept ones and the one being written
    grids = sum(p.stat().st_size for p in (folder / "samples").glob("*.png")) + (folder / "progress.gif").stat().st_size
    assert grids <= parts["grids"]
    assert (folder / "metrics.jsonl").stat().st_size <= parts["metrics"]


def test_planned_steps_follow_steps_or_epochs():
    assert budget.planned_steps(TrainConfig(steps=123).resolved()) == 123
    epochs = TrainConfig(epochs=2, batch_size=16).resolved()
    assert budget.planned_steps(epochs, images=1000) == 2 * 62


@pytest.mark.parametrize("options, field", [
    (dict(keep_checkpoints=1000, g_width=256, d_width=256), "keep_checkpoints"),
    (dict(sample_every=1, sample_count=256, steps=10**6), "sample_every"),
    (dict(sample_every=0, sample_every_epochs=0, log_every=1, steps=10**8), "log_every"),
])
def test_a_run_larger_than_the_disk_limit_is_refused_naming_its_largest_part(options, field):
    config = TrainConfig(**{"steps": 1000, **options}).resolved()
    parts = budget.disk_cost(config, budget.planned_steps(config))
    with pytest.raises(ConfigError) as e:
        budget.check_disk(parts, sum(parts.values()) - 1, "the 1 MiB test limit")
    assert e.value.field == field and "more than the 1 MiB test limit" in str(e.value)
    budget.check_disk(parts, sum(parts.values()), "an exact limit")  # what fits is admitted


def test_free_disk_is_read_from_the_nearest_existing_folder(tmp_path):
    # Two readings of one disk's free space, which other programs move between them: equal within a gibibyte.
    missing, existing = budget.free_disk(tmp_path / "not" / "yet"), budget.free_disk(tmp_path)
    assert missing > 0 and abs(missing - existing) < 2**30
