"""Where a member's flags come from besides its command line, as in etcd.

- ``ETCD_*`` environment variables: ``--foo-bar`` from ``ETCD_FOO_BAR``; the same
  flag given both ways, or a value that does not parse, is refused.
- ``--config-file PATH`` (or ``ETCD_CONFIG_FILE``): a YAML mapping of flag names
  to values (etcd's ``etcd.conf.yml``), with the TLS flags under
  ``client-transport-security`` and ``peer-transport-security``. Given one, etcd
  ignores every other flag and variable; so does kvstore. Keys that name no
  flag are ignored (etcd ignores them silently; kvstore logs them).

Each source becomes ``--flag=value`` arguments for the one parser, so a value
is checked the same way wherever it came from.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

#: etcd takes every flag ``--foo-bar`` from ``ETCD_FOO_BAR`` too
ENV_PREFIX = "ETCD_"
#: ETCD_ variables etcd reads that are not flags
NOT_FLAGS = frozenset({"ETCD_UNSUPPORTED_ARCH"})
CONFIG_FILE_ENV = "ETCD_CONFIG_FILE"
#: etcd.conf.yml's TLS sections and the prefix their keys take as flags
#: (``peer-transport-security: {cert-file: F}`` is ``--peer-cert-file=F``)
TLS_SECTIONS = {"client-transport-security": "", "peer-transport-security": "peer-"}

Notes = list[tuple[int, str]]


class UsageError(Exception):
    """A flag combination that cannot work: reported as one line, exit code 2."""


def go_bool(text: str) -> bool:
    """A Go boolean flag's value (``--flag=false``)."""
    value = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}.get(
        text.strip().lower()
    )
    if value is None:
        raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")
    return value


def _options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every ``--flag`` of ``p`` (argparse keeps them in ``_actions`` only)."""
    return {
        option: action
        for action in p._actions
        for option in action.option_strings
        if option.startswith("--") and option not in ("--help", "--version")
    }


def _is_switch(action: argparse.Action) -> bool:
    """A flag that takes no value (``--client-cert-auth``)."""
    return isinstance(action, argparse._StoreTrueAction)


class _NotAChoice(ValueError):
    """A value that parses but is not one of the flag's choices."""


def _check(action: argparse.Action, value: str) -> None:
    """Raise ValueError (or ArgumentTypeError) if ``action`` refuses ``value``:
    ``_NotAChoice`` if it parses but is not one of the choices."""
    parsed = action.type(value) if callable(action.type) else value
    if action.choices is not None and parsed not in action.choices:
        choices = ", ".join(str(c) for c in action.choices)
        raise _NotAChoice(f"choose from {choices}")


def with_environment(
    p: argparse.ArgumentParser, argv: list[str], environ: Mapping[str, str]
) -> tuple[list[str], Notes]:
    """``argv`` with the flags ``ETCD_*`` variables set, as etcd takes them (a
    flag also given on the command line is an error), and the lines to log
    about them once logging is set up."""
    options = _options(p)
    given = {options[a.split("=", 1)[0]] for a in argv if a.split("=", 1)[0] in options}
    flags: list[str] = []
    notes: Notes = []
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in NOT_FLAGS or name == CONFIG_FILE_ENV:
            continue
        option = "--" + name[len(ENV_PREFIX) :].lower().replace("_", "-")
        action = options.get(option)
        if action is None:
            notes.append((logging.WARNING, f"unrecognized environment variable {name}={value}"))
            continue
        if action in given:
            raise UsageError(
                f'conflicting environment variable "{name}" is shadowed by corresponding '
                "command-line flag (either unset environment variable or disable flag)"
            )
        try:
            if not _is_switch(action):
                _check(action, value)
                flags.append(f"{option}={value}")
            elif go_bool(value):
                flags.append(option)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise UsageError(f'invalid value "{value}" for {name}: parse error') from exc
        notes.append((logging.INFO, f"recognized and used environment variable {name}={value}"))
    return flags + argv, notes


def config_file(given: str | None, environ: Mapping[str, str]) -> str | None:
    """The configuration file to use: ``--config-file``, else ``ETCD_CONFIG_FILE``."""
    return given or environ.get(CONFIG_FILE_ENV) or None


def _go_kind(value: object) -> str:
    """What Go's JSON decoder calls a YAML value's kind in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def from_config_file(
    p: argparse.ArgumentParser, path: str, is_duration: Callable[[argparse.Action], bool]
) -> tuple[list[str], Notes]:
    """The flags ``path`` sets, and the lines to log about it. ``is_duration``:
    whether a flag takes a Go duration (a YAML number there is nanoseconds, as
    etcd's ``time.Duration`` fields)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise UsageError(f"open {path}: {reason}") from exc
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        said = " ".join(str(exc).split())  # one line, as every usage error
        raise UsageError(f"error converting YAML to JSON: {said}") from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise UsageError(
            f"error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
            f"{_go_kind(loaded)} into Go value of type embed.configYAML"
        )
    options = _options(p)
    flags: list[str] = []
    notes: Notes = [
        (
            logging.INFO,
            f'loaded server configuration from "{path}"; other command-line flags '
            "and environment variables are ignored",
        )
    ]
    for key, value, option in _entries(loaded):
        action = options.get(option)
        if action is None:
            notes.append((logging.WARNING, f"configuration key {key!r} is not supported; ignored"))
            continue
        if value is None:  # as etcd: an empty value leaves the default
            continue
        flags.extend(_flag(key, option, action, value, is_duration(action)))
    return flags, notes


def _entries(loaded: dict[Any, Any]) -> list[tuple[str, Any, str]]:
    """(key as written, value, flag) of every setting, the TLS sections' too."""
    out: list[tuple[str, Any, str]] = []
    for key, value in loaded.items():
        name = str(key)
        prefix = TLS_SECTIONS.get(name)
        if prefix is None:
            out.append((name, value, f"--{name}"))
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _mismatch(name, value, "embed.securityConfig")
        for sub, sub_value in value.items():
            out.append((f"{name}.{sub}", sub_value, f"--{prefix}{sub}"))
    return out


def _mismatch(key: str, value: object, go_type: str) -> UsageError:
    return UsageError(
        f"error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
        f"{_go_kind(value)} into Go struct field configYAML.{key} of type {go_type}"
    )


def _flag(
    key: str, option: str, action: argparse.Action, value: object, duration: bool
) -> list[str]:
    """``value`` from the file as arguments for ``option``."""
    if _is_switch(action):
        if not isinstance(value, bool):
            raise _mismatch(key, value, "bool")
        return [option] if value else []
    if isinstance(value, dict):
        raise _mismatch(key, value, "string")
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = ",".join(str(v) for v in value)
    elif duration and isinstance(value, int):
        text = f"{value}ns"  # a Go time.Duration in JSON: nanoseconds
    else:
        text = str(value)
    try:
        _check(action, text)
    except _NotAChoice as exc:
        raise UsageError(f"invalid value {text!r} for {key} ({exc})") from exc
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        if action.type is int and not isinstance(value, int):
            raise _mismatch(key, value, "int") from exc
        raise UsageError(f"invalid value {text!r} for {key}: {exc}") from exc
    return [f"{option}={text}"]
