"""The one error type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a file, a line, a field or a flag. The message names it."""

    exit_code = 2


def did_you_mean(word: str, choices) -> str:
    """` (did you mean `x`?)` for the choice closest to a mistyped `word`, or ``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def describe_validation(error, prefix: str = "") -> str:
    """The first problem of a pydantic ValidationError as "`field.path`: message"."""
    first = error.errors()[0]
    path = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return (f"`{path}`: {message}" if path else message) + more


def validated(model, fields: dict, where: str):
    """`model(**fields)`, a validation failure becoming a one-line UserError naming the field."""
    from pydantic import ValidationError

    try:
        return model(**fields)
    except ValidationError as error:
        raise UserError(f"{where}: {describe_validation(error)}") from None
