"""Config files: `dcgan train --config my.toml` (or my.json) holds any TrainConfig option, and `--dry-run`
prints one back in the same format, so a resolved config can be saved, edited and used again.

Precedence, lowest first: the defaults, a preset (`preset = "cpu-fast"` in the file; --preset on the command
line names one instead), the file's options, the options typed on the command line. A run's length given at a
level (steps or epochs) replaces the other one from the levels below (config.layered).

A file is flat `key = value` lines with the field names of TrainConfig (`batch_size = 32`). TOML has no null:
an option left out is unset (its default, or the value the run derives, e.g. image_size from the dataset).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from dcgan.config import PRESETS, TrainConfig, apply_preset, check_field, field_type, unknown_option
from dcgan.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

FORMATS = {".toml": "toml", ".json": "json"}
PRESET_KEY = "preset"


def config_format(path: str | os.PathLike) -> str:
    """'toml' or 'json', from the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"--config {path}: a config file ends in .toml or .json (print one with "
                          f"`dcgan train --dry-run > my.toml`)", field="config")
    return FORMATS[suffix]


def read_config_file(path: str | os.PathLike) -> tuple[str | None, dict[str, Any]]:
    """(preset, options) from a TOML or JSON file. Every key and value is checked here, and an error names the
    file and the key: an unknown key also names the nearest valid one."""
    path = Path(os.path.expanduser(str(path)))
    fmt = config_format(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file", field="config") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {path}: cannot read it ({e})", field="config") from None
    try:
        values = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path} is not valid {fmt.upper()}: {e}", field="config") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold options as keys and values, e.g. batch_size = 32", field="config")
    options = dict(values)
    preset = options.pop(PRESET_KEY, None)
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"{path}: unknown preset {preset!r}: choose one of {', '.join(PRESETS)}", field="preset")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for key, value in options.items():
        if key not in fields:
            raise unknown_option(key, f"{path}: ", others=(PRESET_KEY,))
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{path}: {key} must be one value (the file is flat key = value lines)", field=key)
        if isinstance(value, int):
            options[key] = value = typed(fields[key], value)  # 1 for 1.0
        check_field(fields[key], value, label=f"{path}: {key}")
    return preset, options


def compose(preset: str | None = None, config_file: str | os.PathLike | None = None,
            options: dict[str, Any] | None = None) -> TrainConfig:
    """A config from defaults < preset < file < options; `preset` (--preset) names the preset instead of the
    file's `preset` key."""
    file_preset, file_options = read_config_file(config_file) if config_file is not None else (None, {})
    return apply_preset(preset or file_preset, file_options, options or {})


def format_config(config: TrainConfig, fmt: str = "toml", resolved: TrainConfig | None = None) -> str:
    """The options as a file `read_config_file` reads back to the same config. Unset options (None) are left
    out; in TOML, with `resolved`, comments show the values the run derives for them."""
    values = {f.name: typed(f, getattr(config, f.name)) for f in dataclasses.fields(TrainConfig)}
    if fmt == "json":
        return json.dumps({k: v for k, v in values.items() if v is not None}, indent=2) + "\n"
    lines = ["# dcgan train --config FILE reads this file; options typed beside --config win over it."]
    group = None
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("group") != group:
            group = f.metadata.get("group")
            lines += ["", f"# {group}"]
        chosen, final = values[f.name], typed(f, getattr(resolved, f.name)) if resolved is not None else None
        if chosen is not None:
            derived = f"  # resolves to {toml_value(final)}" if final is not None and final != chosen else ""
            lines.append(f"{f.name} = {toml_value(chosen)}{derived}")
        elif final is not None:
            why = "drawn at random while unset" if f.name == "seed" else "derived while unset"
            lines.append(f"# {f.name} = {toml_value(final)}  ({why})")
    return "\n".join(lines) + "\n"


def typed(f: dataclasses.Field, value: Any) -> Any:
    """A float field's value as a float (a preset may give 5 for 5.0), so a file reads back as it was written."""
    if value is not None and field_type(f)[0] is float and not isinstance(value, bool):
        return float(value)
    return value


def toml_value(value: Any) -> str:
    """A TOML literal for a config value (bool, int, finite float or string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # finite (validated); repr round-trips and TOML reads 0.0002, 1e-05, 10.0
    # A JSON string is a TOML basic string, except that TOML wants DEL escaped too.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
