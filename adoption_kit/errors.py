"""The kit's exception hierarchy: one readable line per problem; it formats messages and does no I/O."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class AdoptionKitError(Exception):
    """Base class: every error the kit raises on purpose. The CLI prints it and exits 2."""

    exit_code = 2


class ParameterError(AdoptionKitError, ValueError):
    """A parameter (threshold, customer id, level, path) is not acceptable."""


class OutputError(ParameterError):
    """An output place that cannot take the outputs (a file where a folder is expected, read-only, full, inside
    the data folder): found before anything is loaded, one line."""


@dataclass(frozen=True)
class Problem:
    """One problem found in one input file: where, what, and how to fix it."""

    file: str
    problem: str
    fix: str
    row: int | None = None  # 1-based data row (CSV: header excluded; JSON: item index + 1)
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.problem}; fix: {self.fix}"


class InputFileError(AdoptionKitError):
    """One or more problems in input files, all reported at once (one line each)."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, file: str | Path, problem: str, fix: str, *, row: int | None = None,
               column: str | None = None) -> InputFileError:
        return cls([Problem(str(file), problem, fix, row, column)])


class UnknownCustomerError(ParameterError):
    """A customer id that is not in the data; the message names close matches."""
