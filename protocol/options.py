"""Settings declared once. A field of a settings dataclass made with `option(...)` carries its
default, its help text, its command-line flag and its FRAMECAST_* environment variable; the
argparse options are made from the dataclass, and the dataclass is read back from the parsed
arguments. A flag given on the command line wins over the environment, which wins over the
default."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "FRAMECAST_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class OptionSpec:
    help: str
    flag: str | None = None  # default: --field-name
    choices: tuple[str, ...] | None = None
    metavar: str | None = None  # default: the flag's name in capitals


def option(default: Any, help: str, *, flag: str | None = None, choices: tuple[str, ...] | None = None, metavar=None):
    """A settings field that is also a command-line option and an environment variable."""
    return dataclasses.field(default=default, metadata={"option": OptionSpec(help, flag, choices, metavar)})


def flag_of(field: dataclasses.Field) -> str:
    spec: OptionSpec = field.metadata["option"]
    return spec.flag or "--" + field.name.replace("_", "-")


def env_of(field: dataclasses.Field) -> str:
    return ENV_PREFIX + flag_of(field)[2:].upper().replace("-", "_")


def _value_type(annotation: Any) -> type:
    """int for `int | None`, and so on."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (annotation,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return type(typing.get_args(annotation)[0])
    return annotation


def _parse(value: str, kind: type, name: str) -> Any:
    if kind is bool:
        if value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"${name}: {value!r} is not a yes/no value")
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"${name}: {value!r} is not a valid {kind.__name__}") from None


def option_fields(settings_class: type) -> list[tuple[dataclasses.Field, type]]:
    """The option fields, each with the type of its value. Only their annotations are read (the
    class's others may name what is imported for type checking only)."""
    namespace = vars(sys.modules[settings_class.__module__])
    fields = [field for field in dataclasses.fields(settings_class) if "option" in field.metadata]
    return [(field, _value_type(eval(field.type, namespace) if isinstance(field.type, str) else field.type)) for field in fields]


def add_options(parser: argparse.ArgumentParser, settings_class: type, title: str | None = None) -> None:
    """One argparse option per option field of `settings_class` (dest: the field's name)."""
    group = parser.add_argument_group(title) if title else parser
    for field, kind in option_fields(settings_class):
        spec: OptionSpec = field.metadata["option"]
        env = env_of(field)
        default = _parse(os.environ[env], kind, env) if env in os.environ else field.default
        shown = "" if field.default is None else f"default {field.default}; "
        arguments: dict[str, Any] = {"dest": field.name, "default": default, "help": f"{spec.help} ({shown}${env})"}
        if kind is bool:
            # A default of None takes --flag / --no-flag ("unset" lets the code decide).
            arguments["action"] = argparse.BooleanOptionalAction if field.default is None else "store_true"
        else:
            metavar = None if spec.choices else spec.metavar or flag_of(field)[2:].upper().replace("-", "_")
            arguments |= {"type": kind, "choices": spec.choices, "metavar": metavar}
        group.add_argument(flag_of(field), **arguments)


def command_line(prog: str, description: str, *parts) -> argparse.ArgumentParser:
    """A parser made of `parts`: settings classes, (settings class, group title) pairs, or
    functions that add their own arguments (the discovery flags)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    for part in parts:
        if isinstance(part, tuple):
            add_options(parser, *part)
        elif dataclasses.is_dataclass(part):
            add_options(parser, part)
        else:
            part(parser)
    return parser


def settings_from(args: argparse.Namespace, settings_class: type, **fields: Any):
    """The dataclass read back from parsed arguments; `fields` are its fields that are not options."""
    values = {field.name: getattr(args, field.name) for field, _ in option_fields(settings_class)}
    return settings_class(**values, **fields)
