"""The parser: text (CSV and relatives), compressed and parquet inputs → frames.

Public entry points: :func:`parse_setup`, :func:`parse_files` (and :func:`parse_files_report`),
:func:`frame_from_columns`, :func:`guess_setup`. Importing this package registers the parse tasks
(``parse.quotes``, ``parse.range``, ``parse.finalize``, ``parse.discard``).
"""
from .parse import ParseReport, frame_from_columns, parse_files, parse_files_report, parse_setup, warm
from .setup import DEFAULT_NA_STRINGS, ParseSetup, guess_setup

__all__ = ["parse_setup", "parse_files", "parse_files_report", "frame_from_columns", "guess_setup",
           "ParseSetup", "ParseReport", "DEFAULT_NA_STRINGS", "warm"]
