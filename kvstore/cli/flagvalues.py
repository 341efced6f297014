"""etcdctl's boolean flags also take a value: ``--prefix=true``, ``--hex=false``.

etcdctl (pflag) accepts ``--flag``, ``--flag=true`` and ``--flag=false`` for every
boolean flag; click accepts only ``--flag``. Before click parses a command line,
``spell_flag_values`` rewrites ``--flag=true`` as ``--flag`` and drops
``--flag=false`` (kvctl's boolean flags are all off by default), for the flags of
the command the line invokes and the global ones. Any other value, or a value
given to an option that is not a boolean flag of that command, is left for click
to refuse (``make-mirror --prefix=true`` mirrors the prefix ``true``).
"""

from __future__ import annotations

import click

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


def _takes_value(command: click.Command) -> set[str]:
    return {
        opt
        for param in command.params
        if isinstance(param, click.Option) and not param.is_flag
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
    for command in _invoked(group, args):
        flags |= _flags(command)
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name, sep, value = arg.partition("=")
        if sep and name in flags and value.lower() in TRUE:
            out.append(name)
        elif sep and name in flags and value.lower() in FALSE:
            continue
        else:
            out.append(arg)
    return out
