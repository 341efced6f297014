"""etcdctl's ``--flag=true|false`` spelled as click takes it, per command."""

from __future__ import annotations

from kvstore.cli.flagvalues import spell_flag_values
from kvstore.cli.main import cli


def test_true_becomes_the_flag_and_false_drops_it() -> None:
    args = ["--endpoints", "e:1", "get", "k", "--prefix=true", "--keys-only=False"]
    assert spell_flag_values(cli, args) == ["--endpoints", "e:1", "get", "k", "--prefix"]


def test_global_flags_and_subcommands() -> None:
    args = ["-w", "json", "--hex=1", "lease", "timetolive", "1f", "--keys=t"]
    assert spell_flag_values(cli, args) == [
        "-w",
        "json",
        "--hex",
        "lease",
        "timetolive",
        "1f",
        "--keys",
    ]


def test_an_option_that_takes_a_value_keeps_it() -> None:
    """make-mirror's --prefix is a prefix: ``true`` may be one."""
    args = ["make-mirror", "--prefix=true", "d:1"]
    assert spell_flag_values(cli, args) == args


def test_other_values_and_arguments_after_a_double_dash_are_left() -> None:
    args = ["get", "k", "--prefix=maybe"]
    assert spell_flag_values(cli, args) == args
    args = ["lock", "name", "--", "sh", "-c", "x", "--prefix=true"]
    assert spell_flag_values(cli, args) == args


def test_an_option_on_by_default_given_alone_is_spelled_true() -> None:
    """Else click takes the command after it as its value."""
    args = ["--insecure-transport", "get", "k", "--prefix=true"]
    assert spell_flag_values(cli, args) == ["--insecure-transport=true", "get", "k", "--prefix"]
    args = ["make-mirror", "--dest-insecure-transport", "d:1"]
    assert spell_flag_values(cli, args) == [
        "make-mirror",
        "--dest-insecure-transport=true",
        "d:1",
    ]
