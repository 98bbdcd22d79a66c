"""Inputs: raw Partner Center export files in, normalised polars frames out (the columns of adoption_kit.schema).

Every problem in every file is reported at once, as one InputFileError naming file, row, column and the fix;
no metrics here. One file per concern, in the order a file goes through them:

  discover       which files to read, and the export kind of each (from its header, never its name)
  decode         bytes to text (UTF-8, UTF-16, Windows-1252, mixed lines); delimited text to all-text frames
  json_pages     API JSON pages to all-text frames (polars' fast path, its numpy key scan, the exact parser)
  cache          ParsedCache: normalised rows of files already read, keyed by content and loader version
  normalise      headers mapped to fields, every value checked and converted, a batch of files at once
  convert        the shared conversions and the wording of row problems
  licences, subscriptions, activity, kit_files    the rules of each kind family
  duplicates     cross-file checks: repeated rows, conflicting repeats, customer names that differ
  exports        Exports and LoadedFile, what load_exports returns
  inventory      files read and skipped (with reasons), missing kinds, paged-feed and snapshot completeness
  load           load_exports and read_export_file: the orchestration of all of the above

May import the base modules (config, errors, schema) and nothing above them: never compute, analysis,
store, privacy, report, render, sample or cli.
"""
from __future__ import annotations

from adoption_kit.inputs.activity import activity_customer_id, split_assigned_products
from adoption_kit.inputs.cache import ParsedCache, parsed_cache
from adoption_kit.inputs.convert import MAX_COUNT, MAX_TEXT, parse_utc_datetime
from adoption_kit.inputs.decode import decode_text
from adoption_kit.inputs.discover import DATA_SUFFIXES, detect_kind, find_export_files
from adoption_kit.inputs.exports import Exports, LoadedFile
from adoption_kit.inputs.inventory import PARTIAL_SNAPSHOT_SHARE, Inventory
from adoption_kit.inputs.kit_files import ticket_category
from adoption_kit.inputs.load import load_exports, read_export_file
from adoption_kit.inputs.normalise import normalise_files

__all__ = [
    "DATA_SUFFIXES",
    "MAX_COUNT",
    "MAX_TEXT",
    "PARTIAL_SNAPSHOT_SHARE",
    "Exports",
    "Inventory",
    "LoadedFile",
    "ParsedCache",
    "activity_customer_id",
    "decode_text",
    "detect_kind",
    "find_export_files",
    "load_exports",
    "normalise_files",
    "parse_utc_datetime",
    "parsed_cache",
    "read_export_file",
    "split_assigned_products",
    "ticket_category",
]
