"""Errors of the management layer; each carries the one line the user sees (menu, property, value,
allowed)."""

from __future__ import annotations


class ConfigError(Exception):
    """A refused command or script; ``str(exc)`` is the one-line message for stderr."""


class InvalidValue(ConfigError):
    """A value that the property's type does not accept."""


class UnknownProperty(ConfigError):
    """A property the menu does not have, or a read-only one being written."""


class NoSuchItem(ConfigError):
    """An item selector (index, ``*id``, name) that matches nothing."""


class ReferenceViolation(ConfigError):
    """A dangling reference, or removal of an item still referenced."""


class DuplicateName(ConfigError):
    """A name that another item of the menu already has."""


class DefaultObject(ConfigError):
    """Removal of a default object, which always exists."""


class ScriptSyntaxError(ConfigError):
    """A line that is not a command (unbalanced quotes, unknown command, bad menu)."""


class ScriptError(ConfigError):
    """An import stopped at a bad line; the message names the file and line number."""

    def __init__(self, filename: str, line: int, cause: ConfigError) -> None:
        super().__init__(f"{filename}:{line}: {cause}")
        self.filename, self.line, self.cause = filename, line, cause
