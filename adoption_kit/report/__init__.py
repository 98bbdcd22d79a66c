"""What runs inside a report kernel: text fragments and their formatters, styled tables, charts and the headline.

Pure functions of the analysis (adoption_kit.analysis.Analysis, CustomerView) that return objects: a
`format.Fragment` (escaped HTML plus a plain-text twin), an altair chart, a dict of headline figures. The
notebook displays them; nothing here prints, saves or displays, except `headline.headline` (the template's
last cell) and `actions.write_action_list` (the CRM CSV the low-adoption template writes).

One module per concern:
  format        escaping, numbers/dates/money/points, Fragment, boxes, plain tables
  labels        short names of the over-100% causes and the segments
  tables        styled tables (the markup pandas' Styler writes, without pandas)
  headline      the headline figures bundle (HEADLINE_TAG / HEADLINE_MIME) the report index reads, and the
                index's tiles and customer columns (labels, fixed order)
  links         where each customer report is written (customers/<slug>-<id8>.html): names link to it
  workbook      the --xlsx workbook (action list + customer table; openpyxl, imported only when written)
  sources       every report: where the data comes from, and how old it is
  portfolio     portfolio-overview text and figures
  customer      customer-insights text and figures
  low_adoption  low-adoption-accounts text and figures
  exact_usage   exact usage from user activity beside Partner Center's lower bound
  book          the book over time and the work queue (trends, renewals, own seats, idle cost, support)
  charts/       the altair chart builders and the offline (vl-convert) renderer
  params        the template list and parameter checks (papermill side and inside the notebooks)
  paths         paths as a shared report may show them
  actions       the CRM action list (low-adoption report)

Imports only the layers below it (config, errors, compute, analysis, store); never render or cli. No pandas or
pyarrow at import time, directly or through what it imports: a customer report's kernel must import neither
(tests/report/test_notebooks.py checks it).
"""
