"""What reading a dataset produces: examples, row errors, and the report around them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# RowError.line for a problem with the file as a whole (empty file, unusable CSV header,
# too few examples, unknown format). Such an error refuses the dataset even when
# invalid rows may be skipped.
FILE_LINE = 0


@dataclass(frozen=True)
class Example:
    """One training example, rendered with the plain templates of `trainer.data.formats`.

    `segments` is the rendered text cut into `(text, trained)` pieces in order: loss is
    computed only on the tokens of trained pieces. Chat examples also keep their original
    `messages` so the training side can render them with a tokenizer's chat template.
    """

    line: int
    segments: tuple[tuple[str, bool], ...]
    messages: tuple[dict[str, Any], ...] = ()
    keywords: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The whole rendered example."""
        return "".join(text for text, _ in self.segments)

    @property
    def trained_text(self) -> str:
        """Only the pieces the model is trained on."""
        return "".join(text for text, trained in self.segments if trained)


@dataclass(frozen=True)
class RowError:
    """Why one row was refused; `line` is 1-based, or 0 for the file as a whole."""

    line: int
    message: str

    def __str__(self) -> str:
        where = "file" if self.line == FILE_LINE else f"line {self.line}"
        return f"{where}: {self.message}"


@dataclass
class DatasetReport:
    """The outcome of reading and validating one dataset.

    `errors` holds one entry per refused row (and line-0 entries for problems with the
    whole file). With `skip_invalid` the refused rows are left out of `examples`, counted
    in `skipped`, and still listed in `errors` so the user can fix them later.
    """

    path: str
    format: str
    examples: list[Example]
    errors: list[RowError]
    warnings: list[str]
    total_rows: int
    skipped: int
    sha256: str
    skip_invalid: bool = False
    min_examples: int = 10

    @property
    def file_errors(self) -> list[RowError]:
        """Errors about the file as a whole; these refuse the dataset in any mode."""
        return [error for error in self.errors if error.line == FILE_LINE]

    @property
    def ok(self) -> bool:
        """True when training may start with `examples`."""
        if self.file_errors:
            return False
        return self.skip_invalid or not self.errors

    def summary(self, max_errors: int = 20) -> str:
        """A few lines for people: counts, the first errors, and the warnings."""
        lines = [self._headline()]
        if self.errors:
            lines.append("Errors:" if not self.ok or self.file_errors else "Skipped rows:")
            lines.extend(f"  {error}" for error in self.errors[:max_errors])
            if len(self.errors) > max_errors:
                lines.append(f"  … and {len(self.errors) - max_errors} more")
        if not self.ok and not self.file_errors:
            lines.append("Fix these rows, or retry with skip_invalid to train on the valid ones.")
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  {warning}" for warning in self.warnings)
        return "\n".join(lines)

    def _headline(self) -> str:
        verdict = "ok" if self.ok else "refused"
        counts = (
            f"{self.total_rows} {_plural(self.total_rows, 'row')}, "
            f"{len(self.examples)} valid {_plural(len(self.examples), 'example')}"
        )
        row_errors = len(self.errors) - len(self.file_errors)
        if self.skipped:
            counts += f", {self.skipped} invalid {_plural(self.skipped, 'row')} skipped"
        elif row_errors:
            counts += f", {row_errors} invalid {_plural(row_errors, 'row')}"
        return f"{self.path} ({self.format}): {counts} — {verdict}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy without the examples themselves."""
        return {
            "path": self.path,
            "format": self.format,
            "ok": self.ok,
            "examples": len(self.examples),
            "total_rows": self.total_rows,
            "skipped": self.skipped,
            "sha256": self.sha256,
            "errors": [{"line": e.line, "message": e.message} for e in self.errors],
            "warnings": list(self.warnings),
        }


class DatasetError(Exception):
    """A dataset was refused; `report` says why (its summary is the message)."""

    def __init__(self, report: DatasetReport) -> None:
        super().__init__(report.summary())
        self.report = report


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"
