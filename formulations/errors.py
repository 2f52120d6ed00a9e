"""One exception hierarchy for everything a user can get wrong.

Anything raised from here is the user's to fix (a bad file, an impossible option) and
is shown as one line, never a traceback. Anything else escaping is our bug.
"""
from __future__ import annotations


class BundleoptError(Exception):
    """Base class of every user-facing error; ``str(err)`` is the one line to show."""

    exit_code = 2


class InputError(BundleoptError, ValueError):
    """A value in an input file or table is missing, malformed or inconsistent.

    ``source`` names the file (``products.csv``) or, for JSON, the table (``products``);
    ``row`` is the spreadsheet row for files (the header is row 1) or the 1-based record
    number for JSON tables; ``field`` is the column or YAML key.
    """

    def __init__(self, source: str, problem: str, *, row: int | None = None,
                 field: str | None = None) -> None:
        self.source, self.row, self.field, self.problem = source, row, field, problem
        where = source
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {problem}")


class ParameterError(BundleoptError, ValueError):
    """An option or estimator parameter is out of range (scikit-learn style message)."""


def option_error(name: str | None, allowed: str, value: object, *,
                 flag: str | None = None) -> ParameterError:
    """The one message of a bad option, scikit-learn's: ``The 'k_max' option must be an
    integer ≥ 2. Got 1 instead.`` — named by its field for the Python API and the service,
    by its flag alone where only the command line sets it (``--time-limit must be …``),
    or both (``The 'draws' option (--draws) must be …``)."""
    who = flag if name is None else f"The '{name}' option" + (f" ({flag})" if flag else "")
    return ParameterError(f"{who} must be {allowed}. Got {value!r} instead.")


class CapabilityError(BundleoptError):
    """The chosen backend cannot solve this kind of scenario exactly."""


class DataError(InputError):
    """A problem in a demand data directory (customers, exposures, transactions)."""
