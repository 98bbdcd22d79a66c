"""Compute: pure, typed metric functions over the normalised frames (polars in, polars out; pandas accepted).

  metrics    deployment and usage per workload, product, customer and portfolio; segments, causes, ranking
  activity   exact 28-day figures from user-level activity reports
  history    the book over time: changes between snapshots, drops and spikes, segment changes
  worklist   the work queue: renewals, own seats, idle cost, support load

No I/O (beyond reading the packaged exclusion list on request), printing or plotting. Imports only the base
modules (config, errors, schema, values) and, for types, inputs; never store, privacy, analysis, report,
render, sample or cli.
"""
