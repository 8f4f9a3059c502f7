"""Helpers shared by the CLI verbs: JSON output and the compiler-config options
(``--config``, ``--set``, ``--input-range``, ``--print-config``)."""

from __future__ import annotations

import json
from typing import Any, Callable

import click

from ..jsonable import to_jsonable

__all__ = ["bits_option", "config_options", "echo_json", "effective_config", "print_config_and_exit", "to_jsonable"]

#: ``--bits`` of every verb (the fixed-point baseline's width k): FixedPointModel's 4..16
BITS_RANGE = (4, 16)


def bits_option(help_text: str) -> Callable:
    """``--bits K``, one range in every verb."""
    return click.option("--bits", "bits", type=click.IntRange(*BITS_RANGE), default=8, show_default=True,
                        help=help_text)

SET_HELP = ("override one config key, KEY=VALUE (repeatable): a whole-compile key (length, seed, input_range, "
            "...), a layer key for every layer (gate_fsm_states=64, bias_encoding=offset, ...), LAYER.KEY for one "
            "layer, or schedule.KEY; values are YAML (64, 0.5, auto, [16, 32]); see docs/example-config.yaml")


#: ``ctx.meta`` key: the verb printed its JSON result (an error after it stays an ``error:`` line)
JSON_PRINTED = "scc.json_printed"


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(to_jsonable(obj), indent=2))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[JSON_PRINTED] = True


def config_options(f: Callable) -> Callable:
    """``--config FILE``, ``--set KEY=VALUE`` (repeatable), ``--input-range R`` and ``--print-config``."""
    f = click.option("--print-config", "print_config", is_flag=True,
                     help="print the effective config (file + --set + flags) as YAML and exit")(f)
    f = click.option("--input-range", "input_range", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="the largest |input| the SNGs encode (default: the calibration set's max |x|, else 1); "
                          "same as --set input_range=R")(f)
    f = click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SET_HELP)(f)
    return click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                        help="YAML/JSON compiler config (docs/example-config.yaml, docs/compiler.md)")(f)


def effective_config(config_path: str | None, settings: tuple[str, ...], **flags: Any):
    """The config from the file, the ``--set`` assignments and the flags (None = not given)."""
    from ..config import load_config  # noqa: PLC0415

    return load_config(config_path, settings, **flags)


def print_config_and_exit(cfg) -> None:
    """``--print-config``: the effective config as YAML (what ``--config`` reads back), then exit 0."""
    from ..config import config_to_yaml  # noqa: PLC0415

    click.echo(config_to_yaml(cfg), nl=False)
    click.get_current_context().exit(0)
