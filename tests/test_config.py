import pytest

from dcgan.config import DEFAULT_EPOCHS, PRESETS, TrainConfig, apply_preset, schema
from dcgan import errors
from dcgan.errors import ConfigError


def test_the_defaults_are_the_measured_recipe_and_the_paper_is_one_preset_away():
    c = TrainConfig()
    assert (c.g_width, c.d_width, c.batch_size, c.lr, c.beta1, c.latent_dim) == (32, 32, 16, 1e-3, 0.5, 100)
    paper = apply_preset("paper", {})  # Radford et al. 2015, section 4
    assert (paper.g_width, paper.d_width, paper.batch_size, paper.lr, paper.beta1, paper.beta2) == \
        (64, 64, 128, 2e-4, 0.5, 0.999)


def test_the_default_length_is_resolved_for_the_device_and_never_saved_as_chosen():
    c = TrainConfig()
    assert c.epochs is None and c.steps is None
    assert c.resolved("cpu").epochs == DEFAULT_EPOCHS["cpu"] and c.resolved("cuda").epochs == DEFAULT_EPOCHS["cuda"]
    assert DEFAULT_EPOCHS["cuda"] > DEFAULT_EPOCHS["cpu"]  # longer where steps are cheap
    assert TrainConfig(steps=10).resolved("cuda").epochs is None  # a length given is the length
    assert TrainConfig(epochs=2).resolved("cpu").epochs == 2


@pytest.mark.parametrize("dataset,size,channels", [
    ("fashion-mnist", 28, 1), ("mnist", 28, 1), ("cifar10", 32, 3), ("celeba", 64, 3), ("folder:/x", 64, 3)])
def test_resolved_uses_native_format(dataset, size, channels):
    c = TrainConfig(dataset=dataset).resolved("cpu")
    assert (c.image_size, c.channels) == (size, channels)
    assert c.epochs == DEFAULT_EPOCHS["cpu"] and c.seed is not None


def test_explicit_values_win_over_native_format():
    c = TrainConfig(dataset="fashion-mnist", image_size=64, channels=3).resolved()
    assert (c.image_size, c.channels) == (64, 3)


@pytest.mark.parametrize("values,field,words", [
    ({"lr": -1.0}, "lr", "lr must be > 0"),
    ({"batch_size": 0}, "batch_size", "batch_size must be >= 1"),
    ({"image_size": 30}, "image_size", "image_size must be one of"),
    ({"channels": 2}, "channels", "channels must be one of"),
    ({"dataset": "imagenet"}, "dataset", "unknown dataset 'imagenet'"),
    ({"epochs": 1, "steps": 5}, "steps", "not both"),
    ({"lr": float("nan")}, "lr", "finite"),
    ({"batch_size": "8"}, "batch_size", "must be int"),
    ({"tensorboard": 1}, "tensorboard", "must be bool"),
    ({"num_classes": 10}, "num_classes", "num_classes is an option of a conditional run, and this one is not: add "
                                         "conditional"),
    ({"d_conditioning": "concat"}, "d_conditioning", "d_conditioning concat is an option of a conditional run"),
])
def test_bad_values_raise_one_teaching_error(values, field, words):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(values)
    assert words in str(err.value) and err.value.field == field


def test_errors_name_options_as_python_does_and_flags_on_the_command_line(capsys):
    """In Python (and the server's answers) an option reads as its field name; the command line shows its flag;
    a command the message quotes keeps its flags, and flags that are no option of a run stay as they are."""
    from dcgan.cli import main

    message = ("--batch-size must be >= 1; give --epochs or --steps, not both; train one with `dcgan "
               "train-classifier --dataset mnist`; resume it with --resume runs/a")
    assert str(ConfigError(message)) == ("batch_size must be >= 1; give epochs or steps, not both; train one with "
                                         "`dcgan train-classifier --dataset mnist`; resume it with --resume runs/a")
    with pytest.raises(ConfigError, match=r"^batch_size must be >= 1, got 0$"):
        TrainConfig(batch_size=0).resolved()
    assert main(["train", "--batch-size", "0", "--steps", "1"]) == 2
    assert capsys.readouterr().err == "dcgan train: error: --batch-size must be >= 1, got 0\n"
    assert str(ConfigError("--lr must be > 0")) == "lr must be > 0"  # the command's style ends with it
    # A value written with its flag reads as a keyword argument in Python, and stays as typed on the command line.
    assert str(ConfigError("no meaning for --loss=hinge; use --minibatch-discrimination=0 or --lr=1e-4")) == (
        "no meaning for loss='hinge'; use minibatch_discrimination=0 or lr=1e-4")
    assert main(["train", "--loss", "hinge", "--label-smoothing", "0.1", "--steps", "1"]) == 2
    assert "--label-smoothing has no meaning for --loss=hinge (it has no targets)" in capsys.readouterr().err


def test_unknown_option_is_named_with_the_one_meant():
    """Other DCGAN code's names (Keras' learning_rate, the PyTorch tutorial's nz) and typos name our option, from
    a dict (config.json, a request) and from Python keywords alike (not the dataclass's bare TypeError)."""
    with pytest.raises(ConfigError, match="unknown option 'learning_rate'; did you mean 'lr'"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="unknown option 'nz'; did you mean 'latent_dim'") as err:
        TrainConfig(nz=100)
    assert err.value.field == "nz"
    with pytest.raises(ConfigError, match="unknown option 'bach_size'; did you mean 'batch_size'"):
        TrainConfig(bach_size=16)
    assert TrainConfig(lr=2e-4, latent_dim=64).latent_dim == 64


def test_presets_are_data_and_explicit_options_win():
    assert set(PRESETS) >= {"mnist", "fashion-mnist", "cifar10", "celeba64", "cpu-fast", "paper"}
    c = apply_preset("cifar10", {"batch_size": 32})
    assert c.dataset == "cifar10" and c.batch_size == 32
    with pytest.raises(ConfigError, match="unknown preset"):
        apply_preset("nope", {})


def test_a_length_given_over_a_preset_replaces_the_presets_length():
    """cpu-fast gives epochs = 100 and minutes = 5: a typed --steps replaces its epochs (not 'give --epochs or
    --steps, not both'), its minutes stay; a length given twice at one level is still refused."""
    c = apply_preset("cpu-fast", {"steps": 20})
    assert (c.steps, c.epochs, c.minutes) == (20, None, 5)
    c = apply_preset("cpu-fast", {"epochs": 2})
    assert (c.steps, c.epochs) == (None, 2)
    with pytest.raises(ConfigError, match="not both"):
        apply_preset("cpu-fast", {"steps": 20, "epochs": 2})


def test_round_trip_through_json():
    c = TrainConfig(dataset="mnist", steps=10, seed=3).resolved()
    assert TrainConfig.from_dict(__import__("json").loads(c.to_json())) == c


def test_schema_describes_every_field_for_forms():
    rows = {r["name"]: r for r in schema()}
    assert rows["lr"]["type"] == "float" and rows["lr"]["gt"] == 0 and rows["lr"]["help"]
    assert rows["image_size"]["choices"] == [16, 28, 32, 64, 128, 256] and rows["image_size"]["optional"]


def test_a_bad_value_in_a_saved_config_is_named_as_the_file_names_it(monkeypatch):
    """A checkpoint's or config.json's value is no flag the user typed: `dcgan generate` said '--batch-size must be
    int' of a checkpoint edited by hand (found by the chaos audit)."""
    monkeypatch.setitem(errors.FLAG_STYLE, "on", True)  # as on the command line
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_saved({"batch_size": "x"})
    message = str(caught.value)
    assert message.startswith("the run's saved config") and "batch_size must be int, got 'x'" in message
    assert "--" not in message and caught.value.field == "batch_size"
