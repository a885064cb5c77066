"""The one error type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a file, a line, a field or a flag. The message names it."""

    exit_code = 2
