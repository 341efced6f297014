"""``kvctl``: an etcdctl-like command line for kvstore and etcd.

Global flags are etcdctl's (``--endpoints``, ``-w/--write-out``, ``--dial-timeout``,
``--command-timeout``, ``--cacert/--cert/--key`` for TLS, ``--user``/``--password``);
``KVCTL_ENDPOINTS`` sets the endpoints too. Every command
talks to servers only through :mod:`kvstore.client` (a :class:`SyncClient`, or
coroutines run on its loop). Errors are one line on stderr (``Error: ...``) and a
non-zero exit, with etcdctl's codes: 1 for a failed request or a bad flag, 3 for
malformed txn input, 4 for an unsupported output format, 5 for a canceled watch, 128
for missing, extra or malformed arguments.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar, cast

import click

from kvstore.cli.flagvalues import on_by_default, spell_flag_values
from kvstore.cli.output import FORMATS, Format, Output
from kvstore.client import ClientError, SyncClient

T = TypeVar("T")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class Duration(click.ParamType):  # type: ignore[type-arg]
    """Go-style durations as etcdctl takes them (500ms, 2s, 1m); a bare number is seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = _DURATION.match(str(value).strip())
        if not match:
            self.fail(f"invalid duration {value!r} (e.g. 500ms, 2s, 1m)", param, ctx)
        return float(match.group(1)) * _UNIT[match.group(2)]


# Usage errors exit with etcdctl's codes (its ctlv3 error.go): 1 for flags it
# cannot parse and unknown commands, 3 for malformed input (txn), 4 for an
# output format it lacks, 128 for missing, extra or malformed arguments.


class BadFlag(click.UsageError):
    exit_code = 1


class InvalidInput(click.UsageError):
    """Input that does not parse, as a txn's."""

    exit_code = 3


class BadFeature(click.UsageError):
    exit_code = 4


class BadArgs(click.UsageError):
    exit_code = 128


def as_etcdctl(exc: click.UsageError) -> click.UsageError:
    """``exc`` as the class that exits with etcdctl's code for the same mistake."""
    if isinstance(exc, BadFlag | InvalidInput | BadFeature | BadArgs):
        return exc
    kind: type[click.UsageError] = BadArgs  # arguments, and what a command checks itself
    if isinstance(exc, click.NoSuchOption | click.BadOptionUsage):
        kind = BadFlag
    elif isinstance(exc, click.BadParameter) and isinstance(exc.param, click.Option):
        kind = BadFeature if exc.param.name == "write_out" else BadFlag
    elif exc.message.startswith("No such command"):
        kind = BadFlag
    return kind(exc.format_message(), exc.ctx)


def _raise_as_etcdctl(exc: click.UsageError) -> NoReturn:
    mapped = as_etcdctl(exc)
    if mapped is exc:
        raise exc
    raise mapped from exc


class CliError(click.ClickException):
    """A failure reported as one ``Error: ...`` line; exit code 1."""


class WatchCanceled(CliError):
    """The server canceled a watch (etcdctl exits 5)."""

    exit_code = 5


@dataclass(frozen=True)
class GlobalOptions:
    """The global flags, parsed once."""

    endpoints: tuple[str, ...]
    write_out: Format
    dial_timeout: float
    command_timeout: float
    color: bool
    #: keys and values hex-escaped in the simple output format
    hex: bool = False
    #: TLS: CA bundle to trust, client certificate and key (paths)
    ca_cert: str | None = None
    cert: str | None = None
    key: str | None = None
    username: str | None = None
    password: str | None = None

    @property
    def request_timeout(self) -> float:
        """How long one request may take: the command timeout, plus the dial
        timeout for the connection it may first have to make."""
        return self.command_timeout + self.dial_timeout


class Session:
    """Per-invocation state: the options, the output, and a lazily opened client."""

    def __init__(self, options: GlobalOptions) -> None:
        self.options = options
        self.out = Output(options.write_out, options.color, options.hex)
        self._client: SyncClient | None = None

    def client(self) -> SyncClient:
        if self._client is None:
            self._client = SyncClient(
                list(self.options.endpoints),
                dial_timeout=self.options.dial_timeout,
                request_timeout=self.options.request_timeout,
                ca_cert=self.options.ca_cert,
                cert=self.options.cert,
                key=self.options.key,
                username=self.options.username,
                password=self.options.password,
            )
        return self._client

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the client's event loop (for multi-endpoint work)."""
        return self.client().run(coro)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def session() -> Session:
    return cast(Session, click.get_current_context().find_object(Session))


def setup_logging(debug: bool) -> None:
    """Client logs go to stderr only with ``--debug``; otherwise they are dropped."""
    root = logging.getLogger("kvstore")
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s")
    elif not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())
        root.propagate = False


def split_endpoints(text: str, secure: bool = False) -> tuple[str, ...]:
    """Comma-separated endpoints; with ``secure``, each is dialed with TLS
    (etcdctl's ``--insecure-transport=false``), as an https:// one is."""
    endpoints = tuple(e.strip() for e in text.split(",") if e.strip())
    if secure:
        endpoints = tuple(
            e if e.startswith("https://") else "https://" + e.removeprefix("http://")
            for e in endpoints
        )
    return endpoints


_GLOBAL_WITH_VALUE = {
    "--endpoints",
    "-w",
    "--write-out",
    "--dial-timeout",
    "--command-timeout",
    "--color",
    "--cacert",
    "--cert",
    "--key",
    "--user",
    "--password",
}


def credentials(user: str, password: str | None) -> tuple[str, str]:
    """``USER[:PASSWORD]`` and a password given apart as (user, password); the
    password is asked for (hidden, on stderr) when neither gives one."""
    username, sep, given = user.partition(":")
    if sep:
        return username, given
    if password is None:
        password = click.prompt("Password", hide_input=True, err=True)
    return username, password


#: global flags without a value (or with etcdctl's ``=true``/``=false``)
_GLOBAL_FLAGS = {"--hex", "--debug", "--insecure-transport"}


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global flags given after the command to the front, as etcdctl allows.

    ``kvctl get foo -w json`` becomes ``kvctl -w json get foo``. Nothing after a
    ``--`` is touched.
    """
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_WITH_VALUE and "=" in arg:
            hoisted.append(arg)
        elif name in _GLOBAL_WITH_VALUE and i + 1 < len(args):
            hoisted += [arg, args[i + 1]]
            i += 1
        elif name in _GLOBAL_FLAGS or (arg.startswith("-w") and len(arg) > 2):
            hoisted.append(arg)
        else:
            rest.append(arg)
        i += 1
    return hoisted + rest


class KvctlGroup(click.Group):
    """Accepts global flags anywhere; turns client errors into one ``Error:`` line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = spell_flag_values(self, hoist_global_options(args))
        return super().parse_args(ctx, args)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            _raise_as_etcdctl(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _raise_as_etcdctl(exc)
        except ClientError as exc:
            raise CliError(exc.message or str(exc)) from exc
        except TimeoutError as exc:
            raise CliError(str(exc) or "request timed out") from exc
        except OSError as exc:
            raise CliError(str(exc)) from exc


@click.group(cls=KvctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--endpoints",
    envvar="KVCTL_ENDPOINTS",
    default="127.0.0.1:2379",
    show_default=True,
    help="comma-separated gRPC endpoints (env KVCTL_ENDPOINTS)",
)
@click.option(
    "-w",
    "--write-out",
    type=click.Choice(FORMATS),
    default="simple",
    show_default=True,
    help="output format",
)
@click.option("--dial-timeout", type=Duration(), default="2s", show_default=True)
@click.option(
    "--command-timeout",
    type=Duration(),
    default="5s",
    show_default=True,
    help="timeout for short running commands (excluding dial timeout)",
)
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="pretty, coloured JSON values (auto: when stdout is a terminal)",
)
@click.option("--cacert", type=click.Path(exists=True, dir_okay=False), help="CA bundle (TLS)")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False), help="client certificate")
@click.option("--key", type=click.Path(exists=True, dir_okay=False), help="key of --cert")
@click.option("--user", help="username[:password] for authentication")
@click.option("--password", help="password of --user (if not given in --user)")
@on_by_default(
    "--insecure-transport",
    help="false: TLS to every endpoint, also without https:// or --cacert (system CA roots)",
)
@click.option(
    "--hex", "hex_output", is_flag=True, help="print keys and values hex-escaped, as etcdctl"
)
@click.option("--debug", is_flag=True, help="log the client's activity to stderr")
@click.version_option(package_name="kvstore", prog_name="kvctl")
@click.pass_context
def cli(
    ctx: click.Context,
    endpoints: str,
    write_out: str,
    dial_timeout: float,
    command_timeout: float,
    color: str,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    user: str | None,
    password: str | None,
    insecure_transport: bool,
    hex_output: bool,
    debug: bool,
) -> None:
    """kvctl: an etcdctl-like command line for kvstore (and etcd)."""
    setup_logging(debug)
    eps = split_endpoints(endpoints, secure=not insecure_transport)
    if not eps:
        raise click.BadParameter("at least one endpoint is required", param_hint="--endpoints")
    use_color = color == "always" or (color == "auto" and sys.stdout.isatty())
    if (cert is None) != (key is None):
        raise click.BadParameter("--cert and --key go together", param_hint="--cert")
    username = None
    if user is not None:
        username, password = credentials(user, password)
    elif password is not None:
        raise click.BadParameter("--password needs --user", param_hint="--password")
    options = GlobalOptions(
        eps,
        cast(Format, write_out),
        dial_timeout,
        command_timeout,
        use_color,
        hex=hex_output,
        ca_cert=cacert,
        cert=cert,
        key=key,
        username=username,
        password=password if username is not None else None,
    )
    sess = Session(options)
    ctx.obj = sess
    ctx.call_on_close(sess.close)


#: the etcd API version kvctl speaks, as ``etcdctl version`` prints it
API_VERSION = "3.4"


@cli.command("version")
def version_command() -> None:
    """Print kvctl's version and the etcd API version it speaks."""
    click.echo(f"kvctl version: {importlib.metadata.version('kvstore')}")
    click.echo(f"API version: {API_VERSION}")


def _register() -> None:
    from kvstore.cli import (
        auth,
        check,
        cluster,
        concurrency,
        explore,
        keys,
        kube,
        leases,
        mirror,
        snapshot,
        txn,
        watching,
    )

    modules = (
        keys,
        watching,
        txn,
        leases,
        concurrency,
        mirror,
        cluster,
        check,
        auth,
        snapshot,
        explore,
        kube,
    )
    for module in modules:
        register: Callable[[click.Group], None] = module.register
        register(cli)


_register()


def main(argv: list[str] | None = None) -> int:
    """The ``kvctl`` console script."""
    # gRPC's C core logs transport events (GOAWAY, reconnects) to stderr; a CLI
    # reports errors itself, one line each. --debug or GRPC_VERBOSITY bring them back.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        cli.main(args=argv, prog_name="kvctl", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
