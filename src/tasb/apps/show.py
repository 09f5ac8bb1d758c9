"""``tasb config show COMMAND``: a command's settings at their defaults, as the YAML its ``--config`` reads."""

from __future__ import annotations

import dataclasses
from typing import Optional

import click
import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import argument
from tasb.config import Checked, to_dict
from tasb.errors import InputError


@dataclasses.dataclass
class ShowConfig(Checked):
    """``tasb config show``: the command whose settings to print."""

    command: list[str] = dataclasses.field(default_factory=list)

    required = {"command": "a command, e.g. rerank or teacher score"}


def command_config(root: click.Command, words: list[str]) -> type:
    """The config class of the command ``words`` name (``["teacher", "score"]``) under the CLI's ``root`` command."""
    node, path = root, ["tasb"]
    for word in words:
        commands = getattr(node, "commands", {})
        if word not in commands:
            raise InputError("command", f"a command of {' '.join(path)}: {', '.join(sorted(commands)) or 'none'}", word)
        node, path = commands[word], [*path, word]
    spec = getattr(node.callback, "spec", None)
    if spec is None:
        subcommands = "|".join(sorted(getattr(node, "commands", {})))
        raise InputError("command", f"a command with settings: {' '.join(path)} {subcommands}", " ".join(words))
    return spec.config


def defaults_yaml(root: click.Command, words: list[str]) -> str:
    """The YAML of the command's config at its defaults, headed by a comment saying how to use it."""
    import yaml

    name = " ".join(["tasb", *words])
    head = f"# {name}: every setting at its default; edit, then run {name} --config FILE (options and --set go over it)\n"
    return head + yaml.safe_dump(to_dict(command_config(root, words)()), sort_keys=False, allow_unicode=True)


def command_for(root: typer.Typer):
    """``tasb config show`` for the CLI ``root``, which hands itself in: importing tasb.cli here would import upwards."""

    @tasb_command(
        ShowConfig,
        "tasb config show teacher score > score.yaml\ntasb teacher score --config score.yaml --run runs/bm25.train.trec --scorer bm25",
        [argument("command", Optional[list[str]], "the command, e.g. rerank, or teacher score")],
    )
    def command(config: ShowConfig) -> None:
        """Print a command's settings at their defaults as YAML, the file its --config reads."""
        typer.echo(defaults_yaml(typer.main.get_command(root), config.command), nl=False)

    return command
