"""The one error type that the CLI turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a file, a line, a field or a flag. The message names it."""

    exit_code = 2


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
