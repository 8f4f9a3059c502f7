"""Helpers shared by the CLI verbs: JSON output."""

from __future__ import annotations

import json
from typing import Any

import click

from ..jsonable import to_jsonable

__all__ = ["echo_json", "to_jsonable"]


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(to_jsonable(obj), indent=2))
