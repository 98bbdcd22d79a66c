"""adoption-kit: Partner Center licence exports in, deployment and usage metrics, notebooks and reports out.

The package is laid out by stage, in the order the data flows; each stage imports only the ones below it
(pyproject.toml [tool.importlinter] checks it in `make lint`):

  config, errors, schema, values, interrupts   base: paths, the exception family, field contracts, shared value rules
  inputs/     export files -> normalised polars frames (Exports), every problem reported at once
  compute/    pure metric functions: frames in, frames out (metrics, activity, history, worklist)
  store       atomic, formula-safe file writing (CSV, Parquet)
  privacy     pseudonyms for shared outputs
  analysis    the one pipeline every entry point uses: load -> (pseudonymize) -> compute -> the bundle
  report/     what runs inside a report kernel: text, tables, charts, headline
  render/     `adoption-kit report`: papermill in a process pool, sanitised offline HTML, index, manifest
  sample/     the deterministic sample generator
  cli         the `adoption-kit` command, a thin shell over the functions above

This file holds only the version.
"""
from __future__ import annotations

__version__ = "0.1.0"
