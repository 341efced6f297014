"""``watch [KEY [END]] [-- COMMAND ...]`` and ``watch -i``: etcdctl's watch.

- Events print as etcdctl prints them: a block per event, or ``-w json|fields|table``.
- With ``-- COMMAND``, COMMAND runs once per event, after the event is printed, with
  ``ETCD_WATCH_REVISION``, ``ETCD_WATCH_EVENT_TYPE``, ``ETCD_WATCH_KEY`` and
  ``ETCD_WATCH_VALUE`` in its environment (the last three Go-quoted, as etcdctl sets
  them: ``"PUT"``, ``"foo"``). If it fails, kvctl says so on stderr and exits 1.
- ``-i`` takes requests on stdin, one per line: ``watch [--prefix] [--rev R]
  [--prev-kv] KEY [END] [-- COMMAND ...]`` starts one more watch, ``progress`` asks
  for a progress notification, which every watch prints as ``progress notify:
  REV``. A line that is no request is reported on stderr and skipped; an option
  that does not parse ends kvctl (exit 128), and so does the end of stdin (exit 3,
  as etcdctl: it needs stdin kept open). Lines are split as a shell splits words.
- ``--progress-notify`` (etcdctl 3.5's): the server's periodic notifications print
  as ``progress notify: REV``.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import threading
from typing import Any

import click

from kvstore.cli.exectail import ExecTailCommand, exec_tail
from kvstore.cli.keys import key_range
from kvstore.cli.main import BadArgs, CliError, Session, WatchCanceled, session
from kvstore.cli.output import (
    KV_COLUMNS,
    Output,
    go_quote,
    go_quote_bytes,
    header_fields,
    header_json,
    kv_fields,
    kv_json,
    kv_row,
)
from kvstore.cli.running import until_done, until_stop
from kvstore.client import (
    Client,
    CompactedError,
    Event,
    EventType,
    SyncWatch,
    Watch,
    WatchResponse,
)


def event_json(event: Event) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if event.type is EventType.DELETE:
        doc["type"] = 1
    doc["kv"] = kv_json(event.kv)
    if event.prev_kv is not None:
        doc["prev_kv"] = kv_json(event.prev_kv)
    return doc


def print_watch_response(out: Output, response: WatchResponse) -> None:
    if response.progress_notify:
        out.line(f"progress notify: {response.revision}")
    if not response.events:
        sys.stdout.flush()
        return
    if out.fmt == "json":
        out.json(
            {
                "Header": header_json(response.header),
                "Events": [event_json(e) for e in response.events],
                "CompactRevision": 0,
                "Canceled": False,
                "Created": False,
            }
        )
    elif out.fmt == "fields":
        pairs = header_fields(response.header)
        for e in response.events:
            pairs.append(("Type", e.type.value))
            pairs += kv_fields(e.kv)
            if e.prev_kv is not None:
                pairs += kv_fields(e.prev_kv, "Prev")
        out.fields(pairs)
        out.line()
    elif out.fmt == "table":
        rows = [[e.type.value, *kv_row(e.kv)] for e in response.events]
        out.table(["TYPE", *KV_COLUMNS], rows)
    else:
        for e in response.events:
            out.line(e.type.value)
            if e.prev_kv is not None:
                out.raw(e.prev_kv.key)
                out.value(e.prev_kv.value)
            out.raw(e.kv.key)
            out.value(e.kv.value)
    sys.stdout.flush()


# --- the command run per event -----------------------------------------------------


def _go_error(command: list[str], returncode: int) -> str:
    """How Go's os/exec words a command's failure."""
    if returncode < 0:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
        return f"signal: {name.lower()}"
    return f"exit status {returncode}"


def run_for_event(command: list[str], revision: int, event: Event) -> str | None:
    """Run ``command`` for ``event`` as etcdctl does; None if it succeeded,
    else the line etcdctl prints before it exits 1."""
    env = {
        **os.environ,
        "ETCD_WATCH_REVISION": str(revision),
        "ETCD_WATCH_EVENT_TYPE": go_quote(event.type.value),
        "ETCD_WATCH_KEY": go_quote_bytes(event.kv.key),
        "ETCD_WATCH_VALUE": go_quote_bytes(event.kv.value),
    }
    try:
        returncode = subprocess.run(command, env=env, check=False).returncode
    except FileNotFoundError:
        if "/" in command[0]:
            reason = f"fork/exec {command[0]}: no such file or directory"
        else:
            reason = f'exec: "{command[0]}": executable file not found in $PATH'
    except OSError as exc:
        reason = f"fork/exec {command[0]}: {(exc.strerror or str(exc)).lower()}"
    else:
        if returncode == 0:
            return None
        reason = _go_error(command, returncode)
    quoted = " ".join(go_quote(word) for word in command)
    return f"command [{quoted}] error ({reason})"


def _command(ctx: click.Context) -> list[str]:
    """The command to run per event (none: empty); a ``--`` with nothing
    after it is etcdctl's usage error."""
    command = exec_tail(ctx)
    if command == []:
        raise BadArgs("bad number of arguments (found separator --, but no commands)")
    return command or []


def _command_failed(line: str) -> click.exceptions.Exit:
    click.echo(line, err=True)
    return click.exceptions.Exit(1)


# --- one watch ---------------------------------------------------------------------


def _compacted(exc: CompactedError) -> WatchCanceled:
    return WatchCanceled(
        f"watch was canceled (etcdserver: mvcc: required revision has been compacted; "
        f"compact revision {exc.compact_revision})"
    )


def _watch_once(sess: Session, watch: SyncWatch, command: list[str]) -> None:
    try:
        with watch:
            for response in watch.responses():
                print_watch_response(sess.out, response)
                for event in response.events if command else ():
                    failed = run_for_event(command, response.revision, event)
                    if failed is not None:
                        raise _command_failed(failed)
    except KeyboardInterrupt:
        return
    except CompactedError as exc:
        raise _compacted(exc) from exc


# --- -i: requests on stdin -----------------------------------------------------------


class InputEnded(CliError):
    """stdin ended under ``watch -i`` (etcdctl: exit 3, invalid input)."""

    exit_code = 3


def _stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """stdin's lines, None at its end, read on a daemon thread (one blocked in a
    read must not keep kvctl from exiting on Ctrl-C)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="kvctl-stdin", daemon=True).start()
    return queue


class _Interactive:
    """The watches started from stdin, all on the client's one watch stream."""

    def __init__(self, sess: Session, client: Client) -> None:
        self._sess = sess
        self._client = client
        self._watches: list[Watch] = []
        self._tasks: list[asyncio.Task[None]] = []
        #: the first failure of a watch (its command failed, it was canceled)
        self.failed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    async def handle(self, line: str) -> None:
        try:
            args = shlex.split(line)
        except ValueError as exc:
            click.echo(f"Invalid command {line} ({exc})", err=True)
            return
        if not args:
            click.echo(f"Invalid command: {line} (watch and progress supported)", err=True)
        elif args[0] == "progress":
            if self._watches:
                await self._watches[0].request_progress()
        elif args[0] != "watch":
            click.echo(f"Invalid command {line} (only support watch)", err=True)
        elif len(args) < 2:
            click.echo(f"Invalid command {line} (command type or key is not provided)", err=True)
        else:
            self._start(line, args[1:])

    def _start(self, line: str, args: list[str]) -> None:
        try:
            ctx = watch_command.make_context("watch", args)
        except click.UsageError as exc:
            raise BadArgs(exc.format_message()) from exc
        params = ctx.params
        command = _command(ctx)
        if params["key"] is None:
            click.echo(f"Invalid command {line} (bad number of arguments)", err=True)
            return
        try:
            start, end = key_range(params["key"], params["range_end"], params["prefix"], False)
        except click.UsageError as exc:
            click.echo(f"Invalid command {line} ({exc.format_message()})", err=True)
            return
        watch = self._client.watch(
            start,
            end or None,
            start_revision=params["rev"],
            prev_kv=params["prev_kv"],
            progress_notify=params["progress_notify"],
        )
        self._watches.append(watch)
        self._tasks.append(asyncio.ensure_future(self._print(watch, command)))

    async def _print(self, watch: Watch, command: list[str]) -> None:
        try:
            async with watch:
                async for response in watch.responses():
                    print_watch_response(self._sess.out, response)
                    for event in response.events if command else ():
                        failed = await asyncio.to_thread(
                            run_for_event, command, response.revision, event
                        )
                        if failed is not None:
                            raise _command_failed(failed)
        except CompactedError as exc:
            self._fail(_compacted(exc))
        except Exception as exc:  # handed to the command (its exit)
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if not self.failed.done():
            self.failed.set_result(exc)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _interactive(sess: Session, client: Client, stop: asyncio.Event) -> None:
    lines = _stdin_lines(asyncio.get_running_loop())
    session_watches = _Interactive(sess, client)
    try:
        while True:
            next_line = asyncio.ensure_future(lines.get())
            if not await until_stop(_first_of(next_line, session_watches.failed), stop):
                return
            if session_watches.failed.done():
                raise session_watches.failed.result()
            line = next_line.result()
            if line is None:
                raise InputEnded("Error reading watch request line: EOF")
            await session_watches.handle(line.removesuffix("\n"))
    finally:
        await session_watches.close()


async def _first_of(*futures: asyncio.Future[Any]) -> None:
    await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)


# --- the command -------------------------------------------------------------------


@click.command("watch", cls=ExecTailCommand)
@click.argument("key", required=False)
@click.argument("range_end", required=False)
@click.option("-i", "--interactive", is_flag=True, help="take watch requests from stdin")
@click.option("--prefix", is_flag=True, help="watch keys with matching prefix")
@click.option("--rev", type=int, default=0, help="revision to start watching from")
@click.option("--prev-kv", is_flag=True, help="include the previous key-value pair")
@click.option("--progress-notify", is_flag=True, help="print the server's progress notifications")
@click.pass_context
def watch_command(
    ctx: click.Context,
    key: str | None,
    range_end: str | None,
    interactive: bool,
    prefix: bool,
    rev: int,
    prev_kv: bool,
    progress_notify: bool,
) -> None:
    """Watch a key or a range for events until interrupted (Ctrl-C exits cleanly);
    with -- COMMAND ..., run COMMAND after each event."""
    sess = session()
    env_key, env_end = _environment_range()
    if interactive:
        until_done(lambda stop: _interactive(sess, sess.client().client, stop))
        return
    command = _command(ctx)
    if env_key:
        if key is not None:
            raise BadArgs("bad number of arguments (found conflicting environment key)")
        key, range_end = env_key, env_end or None
    if key is None:
        raise BadArgs("bad number of arguments")
    start, end = key_range(key, range_end, prefix, False)
    watch = sess.client().watch(
        start, end or None, start_revision=rev, prev_kv=prev_kv, progress_notify=progress_notify
    )
    _watch_once(sess, watch, command)


def _environment_range() -> tuple[str, str]:
    """etcdctl's ``ETCDCTL_WATCH_KEY`` and ``ETCDCTL_WATCH_RANGE_END``: the key
    (and range end) to watch when none is given as an argument."""
    key = os.environ.get("ETCDCTL_WATCH_KEY", "")
    end = os.environ.get("ETCDCTL_WATCH_RANGE_END", "")
    if end and not key:
        quoted = go_quote_bytes(end.encode())
        raise BadArgs(f"ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={quoted}")
    return key, end


def register(group: click.Group) -> None:
    group.add_command(watch_command)
