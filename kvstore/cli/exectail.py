"""etcdctl's ``[--] [exec-command arg ...]`` tail, taken by ``watch`` and ``lock``.

Everything after the first ``--`` is the command, word for word: ``kvctl watch k
-- sh -c 'echo $ETCD_WATCH_KEY'`` or ``kvctl lock L --ttl 5 -- make -j4 deploy``.
Before it, options are the kvctl command's, wherever they stand (as cobra parses
etcdctl's). click itself would drop the ``--`` and take the command's words as
more arguments of the kvctl command.
"""

from __future__ import annotations

import click

_TAIL = f"{__name__}.tail"


class ExecTailCommand(click.Command):
    """A click command whose arguments may end with ``-- COMMAND ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta[_TAIL] = args[at + 1 :]
            args = args[:at]
            ctx.allow_interspersed_args = True
        return super().parse_args(ctx, args)


def exec_tail(ctx: click.Context) -> list[str] | None:
    """The words after ``--`` (possibly none), or None when there was no ``--``."""
    tail: list[str] | None = ctx.meta.get(_TAIL)
    return None if tail is None else list(tail)
