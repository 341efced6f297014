"""etcdctl's boolean flags also take a value: ``--prefix=true``, ``--hex=false``.

etcdctl (pflag) accepts ``--flag``, ``--flag=true`` and ``--flag=false`` for every
boolean flag; click accepts only ``--flag``. Before click parses a command line,
``spell_flag_values`` rewrites ``--flag=true`` as ``--flag`` and drops
``--flag=false`` (kvctl's boolean flags are all off by default), for the flags of
the command the line invokes and the global ones. Any other value, or a value
given to an option that is not a boolean flag of that command, is left for click
to refuse (``make-mirror --prefix=true`` mirrors the prefix ``true``). A boolean
option that is on by default (``--insecure-transport[=true]``) takes a value in
click; given alone, it becomes ``--name=true``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def on_by_default(name: str, help: str) -> Callable[[Any], Any]:
    """``--name[=BOOL]``, true unless given ``=false``, as etcdctl's
    ``--insecure-transport[=true]``."""
    return click.option(
        name,
        type=click.BOOL,
        default=True,
        is_flag=False,
        flag_value=True,
        show_default=True,
        help=help,
    )


TRUE = {"true", "t", "1"}
FALSE = {"false", "f", "0"}


def _flags(command: click.Command) -> set[str]:
    """The long names of ``command``'s boolean flags that are off by default."""
    names: set[str] = set()
    for param in command.params:
        if (
            isinstance(param, click.Option)
            and param.is_bool_flag
            and param.default is not True
            and not param.secondary_opts
        ):
            names.update(opt for opt in param.opts if opt.startswith("--"))
    return names


def _optional_bool(param: click.Parameter) -> bool:
    """``--name[=BOOL]``: a boolean option whose value may be left out."""
    return (
        isinstance(param, click.Option)
        and not param.is_flag
        and isinstance(param.type, click.types.BoolParamType)
        and param.flag_value is True
    )


def _bare_true(command: click.Command) -> set[str]:
    """Options given alone that must be spelled ``--name=true`` for click,
    which would otherwise take the next argument as their value."""
    return {opt for param in command.params if _optional_bool(param) for opt in param.opts}


def _takes_value(command: click.Command) -> set[str]:
    return {
        opt
        for param in command.params
        if isinstance(param, click.Option) and not param.is_flag and not _optional_bool(param)
        for opt in param.opts
    }


def _invoked(group: click.Group, args: list[str]) -> list[click.Command]:
    """The commands ``args`` (global options first) walk through, from ``group``."""
    path: list[click.Command] = [group]
    current: click.Command = group
    value_next = False
    for arg in args:
        if value_next:
            value_next = False
            continue
        if arg == "--" or not isinstance(current, click.Group):
            break
        if arg.startswith("-"):
            # ``--endpoints X``: X is the option's value, not a command
            value_next = "=" not in arg and arg in _takes_value(current)
            continue
        sub = current.commands.get(arg)
        if sub is None:
            break
        path.append(sub)
        current = sub
    return path


def spell_flag_values(group: click.Group, args: list[str]) -> list[str]:
    """``args`` with etcdctl's ``--flag=true|false`` spelled as click takes them."""
    flags: set[str] = set()
    bare_true: set[str] = set()
    for command in _invoked(group, args):
        flags |= _flags(command)
        bare_true |= _bare_true(command)
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name, sep, value = arg.partition("=")
        if arg in bare_true:
            out.append(arg + "=true")
        elif sep and name in flags and value.lower() in TRUE:
            out.append(name)
        elif sep and name in flags and value.lower() in FALSE:
            continue
        else:
            out.append(arg)
    return out
