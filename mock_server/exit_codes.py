"""The exit codes every flux-mock command shares, and the errors that carry them to one line on stderr.

    0  clean       1  contract failure, drift, or a report with findings
    2  usage or configuration error       3  target unreachable
    4  nothing tested: every selected operation was skipped (a CI run that tests nothing must not pass)
"""

CLEAN, FAILED, USAGE, UNREACHABLE, NOTHING_TESTED = 0, 1, 2, 3, 4


class CommandError(Exception):
    """A command cannot go on; the message is the one line printed, `exit_code` what the command returns."""

    exit_code = USAGE


class ConfigError(ValueError):
    """The config file or an option is invalid; the message says where and why (a command exits 2 on it)."""


class UsageError(CommandError):
    """The command line cannot be run as given."""


class Unreachable(CommandError):
    """The target did not answer at all: a network failure, never a contract failure."""

    exit_code = UNREACHABLE
