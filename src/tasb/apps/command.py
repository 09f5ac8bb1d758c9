"""What every command shares: its options declared once with the config key each sets, its config built from
defaults, ``--config FILE``, ``--set key=value`` and the options given, old option names still taken, and errors
the user can fix said in one line.

A command is a function of its config, declared with :func:`tasb_command`: the options are :class:`Opt` records
(``tasb.apps.options`` holds the sets several commands share), and an option's default is its config field's, so
the help, ``tasb config show`` and a run without the option agree. Errors the user can fix are printed in one line
and exit with status 2; bugs keep their traceback. What the operating system refuses (a read-only or full file
system, no permission, a folder where a file goes) is the user's to fix too. A half-written output is removed as
the error unwinds, and as SIGTERM unwinds: see ``_terminate_unwinds``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import inspect
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Mapping, Optional, Sequence, TypeVar

import typer
from typer.core import TyperCommand

from tasb.config import check_config, load_config
from tasb.errors import InputError, renamed
from tasb.outputs import TEMP_NAME, refuse_output_over_inputs

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger(__name__)

# the parameters every command has besides its options: they say where the config comes from
CONFIG, SET, CONFIG_FILE = "config", "overrides", "config_file"
_CONFIG_PARAMS = {
    CONFIG: Annotated[Optional[Path], typer.Option("--config", help="YAML of this command's settings (tasb config show prints them)")],
    SET: Annotated[Optional[list[str]], typer.Option("--set", help="a setting: key=value, dotted into sections (repeatable)")],
}
_CONFIG_ARGUMENT = Annotated[Optional[Path], typer.Argument(help="YAML of this command's settings, as --config")]


@dataclasses.dataclass(frozen=True)
class Opt:
    """One option of a command: its parameter name, its typer annotation, and the dotted config key it sets
    (default: its name). ``key=None`` marks the rare switch that is not a setting (``tasb train --resume``): it is
    handed to the command as a keyword, ``default`` its value when not given."""

    name: str
    annotation: Any
    key: str | None = ""
    default: Any = None

    @property
    def setting(self) -> str | None:
        return self.name if self.key == "" else self.key

    def to(self, key: str) -> "Opt":
        """The same option setting another key (``--device`` is ``train.device`` in an experiment)."""
        return dataclasses.replace(self, key=key)


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a command is: its config, an example, its options, the old option names it still takes
    (``--depth`` -> ``--rerank-depth``), and names library code gives settings that are not config keys."""

    config: type
    example: str
    options: tuple[Opt, ...]
    aliases: Mapping[str, str]
    flags: Mapping[str, str]


def tasb_command(
    config: type,
    example: str,
    options: Sequence[Opt | Sequence[Opt]] = (),
    *,
    aliases: Mapping[str, str] | None = None,
    flags: Mapping[str, str] | None = None,
    positional_config: bool = False,
) -> Callable[[F], F]:
    """``func(settings, **switches)`` as a typer command taking ``options``, ``--config`` and ``--set`` (and a
    positional CONFIG too, for the commands that always took one) and handing ``func`` the config they make."""
    opts = tuple(item for entry in options for item in ([entry] if isinstance(entry, Opt) else entry))
    spec = Spec(config, example, opts, aliases or {}, flags or {})

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(ctx: typer.Context, **values: Any) -> Any:
            settings = None
            # an OS error on the output is said with the output's path as the user gave it, by option or file
            with _user_errors(ctx, spec, lambda: getattr(settings, "out", None)):
                if ctx.invoked_subcommand is not None:
                    _refuse_group_options(ctx)
                    return None
                settings = _settings(ctx, spec)
                return func(settings, **{opt.name: values[opt.name] for opt in spec.options if opt.key is None})

        # typer reads the parameters from the signature: the options, then where the config comes from
        defaults = config()
        declared = [(opt.name, opt.annotation, _default(defaults, opt)) for opt in spec.options]
        sources = {**({CONFIG_FILE: _CONFIG_ARGUMENT} if positional_config else {}), **_CONFIG_PARAMS}
        declared += [(name, annotation, None) for name, annotation in sources.items()]
        params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind) for name, kind, default in declared]
        wrapper.__signature__ = inspect.Signature(params)
        wrapper.spec = spec
        return wrapper

    return decorate


def _default(defaults: object, opt: Opt) -> Any:
    """What the option shows and means when not given: its config field's default (no default for an empty one)."""
    if opt.key is None:
        return opt.default
    value = defaults
    for part in opt.setting.split("."):
        value = getattr(value, part)  # an option naming no field fails here, as the module is imported
    return None if value in ("", []) else value


def _settings(ctx: typer.Context, spec: Spec) -> Any:
    """The command's config: its defaults, then the YAML file, then ``--set``, then the options given."""
    params = ctx.params
    if params.get(CONFIG) and params.get(CONFIG_FILE):
        raise InputError("--config", "one config file: CONFIG or --config FILE", "both")
    flags = _flags(ctx)
    given = {
        opt.setting: (flags[opt.name], _plain(params[opt.name]))
        for opt in spec.options
        if opt.key is not None and _given(ctx, opt.name)
    }
    settings = load_config(spec.config, params.get(CONFIG_FILE) or params.get(CONFIG), params.get(SET) or [], given)
    check_config(settings)
    refuse_output_over_inputs(settings)
    return settings


def _given(ctx: typer.Context, name: str) -> bool:
    # by name: typer carries its own copy of click, whose ParameterSource is not click's
    return getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")


def _plain(value: Any) -> Any:
    """An option's value as YAML would give it: paths as strings, tuples as lists."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return str(value) if isinstance(value, Path) else value


def _flags(ctx: typer.Context) -> dict[str, str]:
    """Each parameter's name as the user types it: ``--rerank-depth``, or ``RUNS`` for an argument."""
    return {p.name: p.opts[0] if p.param_type_name == "option" else p.name.upper() for p in ctx.command.params}


def _refuse_group_options(ctx: typer.Context) -> None:
    """A group's own options (``tasb index --out X merge``) belong to it, not to the subcommand after them."""
    given = [p.opts[0] for p in ctx.command.params if _given(ctx, p.name)]
    if given:
        where = f"{ctx.command_path} {ctx.invoked_subcommand}"
        raise InputError(where, f"its own options after its name ({ctx.command_path} OPTIONS is itself a command)", given[0])


class TasbCommand(TyperCommand):
    """A command that still takes its options' old names, each said once on stderr with the name to use instead."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        spec = getattr(self.callback, "spec", None)
        return super().parse_args(ctx, _new_spellings(args, spec.aliases if spec else {}, ctx.command_path))


def _new_spellings(args: list[str], aliases: Mapping[str, str], command: str) -> list[str]:
    """``args`` with old option names (``--depth`` or ``--depth=5``) replaced by the new ones, up to a ``--``."""
    out: list[str] = []
    said: set[str] = set()
    for number, arg in enumerate(args):
        if arg == "--":
            return out + args[number:]
        name, eq, value = arg.partition("=")
        if name in aliases:
            if name not in said:
                logger.warning("%s %s is now %s (the old name goes in the next release)", command, name, aliases[name])
                said.add(name)
            arg = aliases[name] + eq + value
        out.append(arg)
    return out


def add(group: typer.Typer, name: str, func: Callable[..., Any]) -> None:
    """Register a :func:`tasb_command` under ``name``, its example shown below its options in ``--help``."""
    group.command(name, cls=TasbCommand, epilog=epilog(func))(func)


def epilog(func: Callable[..., Any]) -> str:
    """The end of a command's help: its example."""
    return f"Example:\n\n{func.spec.example}"


@contextlib.contextmanager
def _user_errors(ctx: typer.Context, spec: Spec, out: Callable[[], object]) -> Iterator[None]:
    """Errors the user can fix as one line naming the option (or the file and line) that gave the value, status 2.

    Library code names the setting it was given (``rerank_depth``), as an error's place or in backticks in its text;
    the error is said with the option that sets it here (``--rerank-depth``)."""
    try:
        with _terminate_unwinds():
            yield
    except InputError as err:
        typer.echo(f"error: {_named(err, ctx, spec)}", err=True)
        raise typer.Exit(2) from None
    except OSError as err:
        typer.echo(f"error: {_os_error(err, out())}", err=True)
        raise typer.Exit(2) from None


def _named(err: InputError, ctx: typer.Context, spec: Spec) -> InputError:
    """``err`` with the settings it names (as its place, or in backticks in its text) said as this command's options."""
    flags = _flags(ctx)
    return renamed(
        err, {**{name: flags[opt.name] for opt in spec.options for name in (opt.name, opt.setting) if name}, **spec.flags}, paths_win=True
    )


_OS_PROBLEMS = {
    errno.EISDIR: "a file, got an existing folder",
    errno.ENOTDIR: "a folder, got a file on the path",
    errno.ENOSPC: "space to write, got a full file system",
    errno.EDQUOT: "space to write, got a full disk quota",
    errno.EROFS: "a writable place, got a read-only file system",
    errno.EACCES: "a file or folder this user may use, got permission denied",
    errno.EPERM: "a file or folder this user may use, got operation not permitted",
    errno.ENOENT: "an existing file or folder, got none",
}


def _os_error(err: OSError, out: object = None) -> str:
    """``err`` in one line: the file the user named (not the temp file written in its place) and what went wrong."""
    named_file = err.filename2 if err.filename2 is not None else err.filename
    # a failed write() carries no file name: the output being written is the likeliest one
    where = _user_path(named_file, out) if named_file is not None else (str(out) if out is not None else "input or output")
    problem = _OS_PROBLEMS.get(err.errno)
    if problem is not None:
        return f"{where}: expected {problem}"
    return f"{where}: {err.strerror or next(iter(str(err).splitlines()), '') or type(err).__name__}"


def _user_path(path: object, out: object = None) -> str:
    """``path`` with temp names undone, and as ``--out`` spelled it when it is (or lies in) that output."""
    parts = Path(path.decode(errors="replace") if isinstance(path, bytes) else str(path)).parts
    shown = Path(*[match["name"] if (match := TEMP_NAME.match(part)) else part for part in parts]) if parts else Path(str(path))
    if out is not None:
        inside = os.path.relpath(os.path.abspath(shown), os.path.abspath(str(out)))
        if not inside.startswith(os.pardir):
            return str(out) if inside == os.curdir else str(Path(str(out)) / inside)
    return str(shown)


class _Terminated(SystemExit):
    """SIGTERM raised as an exception, exiting with the status a killed process has (128 + 15)."""


@contextlib.contextmanager
def _terminate_unwinds():
    """SIGTERM unwinds the command as Ctrl-C does, so outputs half written are removed on the way out.

    Python's default for SIGTERM ends the process on the spot, leaving hidden temp files behind (SIGKILL
    still does: no process can catch it). Signal handlers belong to the main thread only.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        # None: a handler installed outside Python, which cannot be put back; the default is the nearest
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(128 + signum)
