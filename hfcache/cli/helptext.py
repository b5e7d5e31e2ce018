"""``--help`` pages written by hfcache itself: the same text on every typer and click version.

typer's own pages change between versions (type names such as ``<bool>`` or ``<list[str]>`` as
metavars, ``{REPO_ID...}...`` in the usage line, boxes that do not survive a pipe). Here each
option shows a metavar people understand (or its choices), its default where it has one, and the
command's docstring is printed as written, so its ``Examples:`` and ``Exit codes:`` sections keep
their lines.
"""

from __future__ import annotations

import enum
import importlib
import inspect
from typing import Any, ClassVar

import typer
import typer.core
import typer.main


def _metavar(param: Any) -> str:
    choices = getattr(getattr(param, "type_descriptor", None), "choices", None) or getattr(
        getattr(param, "type", None), "choices", None
    )
    if choices:
        return "[" + "|".join(str(c.value if isinstance(c, enum.Enum) else c) for c in choices) + "]"
    if param.metavar:
        return str(param.metavar)
    return (param.name or "value").upper()


def _default(param: Any) -> str | None:
    default = param.default
    if isinstance(default, enum.Enum):
        default = default.value
    if not param.show_default or default in (None, False, (), []) or param.is_flag:
        return None
    return str(default)


def _option_row(param: Any) -> tuple[str, str]:
    names = sorted(param.opts, key=lambda o: o.startswith("--"))  # -o, --output
    head = ", ".join(names)
    if not param.is_flag:
        head += f" {_metavar(param)}"
    help_text = param.help or ""
    default = _default(param)
    if default is not None:
        help_text += f" [default: {default}]"
    if param.multiple:
        help_text += " (repeatable)" if "repeatable" not in help_text else ""
    return head, help_text.strip()


def _argument_name(param: Any) -> str:
    name = param.metavar or (param.name or "arg").upper()
    if param.nargs == -1 and not name.endswith("..."):
        name += "..."
    return name if param.required else f"[{name}]"


class Command(typer.core.TyperCommand):
    """A typer command whose ``--help`` is formatted by :func:`format_help` below."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        params = self.get_params(ctx)
        # typer may bring a click of its own: parameters are told apart by kind, not by class.
        arguments = [p for p in params if p.param_type_name == "argument"]
        options = [p for p in params if p.param_type_name == "option" and not getattr(p, "hidden", False)]
        usage = " ".join(["[OPTIONS]", *(_argument_name(a) for a in arguments)])
        formatter.write(f"Usage: {ctx.command_path} {usage}\n")
        _write_doc(formatter, self.help)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl([(_argument_name(a).strip("[]"), _help(a)) for a in arguments])
        if options:
            with formatter.section("Options"):
                formatter.write_dl([_option_row(o) for o in options])


def _write_doc(formatter: Any, help_text: str | None) -> None:
    """The docstring as written (its Examples and Exit codes keep their lines), indented two."""
    text = inspect.cleandoc(help_text or "")
    if text:
        formatter.write("\n")
        for line in text.splitlines():
            formatter.write(f"  {line}".rstrip() + "\n")


def _help(param: Any) -> str:
    return str(getattr(param, "help", None) or "")


COMMAND: dict[str, Any] = {"cls": Command}
"""Keyword arguments for ``app.command(...)`` so a command gets these help pages."""


class Group(typer.core.TyperGroup):
    """The ``hfcache`` group, whose ``--help`` lists the commands in the same plain style."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(f"Usage: {ctx.command_path} [OPTIONS] COMMAND [ARGS]...\n")
        _write_doc(formatter, self.help)
        options = [p for p in self.get_params(ctx) if p.param_type_name == "option"]
        with formatter.section("Options"):
            formatter.write_dl([_option_row(o) for o in options])
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [
            (name, inspect.cleandoc(cmd.help or "").split("\n")[0] if cmd else "") for name, cmd in commands
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
        formatter.write(
            f"\n  Run '{ctx.command_path} COMMAND --help' for a command's options and examples.\n"
        )


class LazyGroup(Group):
    """The group, loading a command's module only when that command runs (or help lists it):
    ``hfcache pack`` does not import the mirror, ``fit`` or the repair planner. ``commands``
    maps each name to (module, function)."""

    commands_by_name: ClassVar[dict[str, tuple[str, str]]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands_by_name)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        where = self.commands_by_name.get(cmd_name)
        if where is None:
            return None
        function = getattr(importlib.import_module(where[0]), where[1])
        one = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        one.command(name=cmd_name, **COMMAND)(function)
        return typer.main.get_command(one)
