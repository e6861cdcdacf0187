"""Exceptions raised by the core; the command line turns them into a message and a non-zero exit."""


class SnakehepError(Exception):
    """Base class: a problem with the user's input (config, files, workspaces), not a bug."""


class ConfigError(SnakehepError):
    """The configuration is invalid; the message names the key."""


class InputFileError(SnakehepError):
    """An input file is missing, unreadable or lacks a branch; the message names the file."""


class UnreadableFileError(InputFileError):
    """An input file cannot be read at all: missing, not ROOT, truncated or corrupt, or without
    the ``Events`` tree. ``selection.skip_bad_files`` skips such files (and only these)."""


class OutputError(SnakehepError):
    """An output cannot be written (no such directory, disk full, file size limit); the message
    names the output."""


class ExpressionError(SnakehepError):
    """A selection expression is malformed or refers to an unknown name; the message names it."""


class InferenceError(SnakehepError):
    """A workspace is invalid, has no parameter of interest, or a fit failed."""
