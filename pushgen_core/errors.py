"""Exceptions shared across PushGen."""


class PushGenError(Exception):
    """Base for errors whose message tells the user how to fix them."""


class ConfigError(PushGenError):
    """A configuration file (taxonomy, channels, banned terms) is missing or invalid."""


class InputError(PushGenError):
    """A brief, an items file or another user input is invalid."""
