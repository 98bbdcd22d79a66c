"""The `adoption-kit` command: a thin argparse shell over the kit's documented functions; no logic of its own."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from adoption_kit import __version__
from adoption_kit.config import DEFAULT_THRESHOLDS, REPORT_TEMPLATES_DIR, Thresholds
from adoption_kit.errors import AdoptionKitError, InputFileError
from adoption_kit.interrupts import sigterm_as_interrupt

EXAMPLES = """\
examples:
  adoption-kit validate data/sample
  adoption-kit metrics data/sample --level customer --out reports/customers.csv
  adoption-kit metrics ~/Downloads/partner-center/ --level product --out products.parquet
  adoption-kit sample /tmp/book --customers 20000 --seed 1
  adoption-kit report data/sample --out reports
  adoption-kit report data/sample --out shared-reports --pseudonymize
  adoption-kit report data/sample --out reports --audience customer --customer 00ca2d71-7224-4239-a117-2a633dbe2f22
  adoption-kit report data/sample --out reports --xlsx
"""


def _say(text: str, file=None) -> None:
    """Print lines that carry text from the data (file names, headers, names): each "\n"-separated line with
    its controls, escape codes and line separators shown as escapes, so nothing reaches the terminal raw and
    no line can pass for another (`values.visible_text`)."""
    from adoption_kit.values import visible_text

    for line in text.split("\n"):
        print(visible_text(line), file=file or sys.stdout)


def _say_line(text: str, file=None) -> None:
    """One message as exactly one line, a newline in it (from a file name) shown as `\\n`."""
    from adoption_kit.values import visible_text

    print(visible_text(text), file=file or sys.stdout)


# Each command imports its stage when it runs, not at module level: `--help` and a bad option answer at once,
# and SIGTERM-as-Ctrl-C is in force before polars, papermill or altair start loading.
def _command_validate(args: argparse.Namespace) -> int:
    from adoption_kit.inputs import load_exports

    exports = load_exports(args.paths)
    _say(exports.summary())
    return 0


def _command_metrics(args: argparse.Namespace) -> int:
    from adoption_kit.analysis import write_metrics
    from adoption_kit.store import check_output

    check_output(args.out, args.paths, folder=False)   # before the key is made and any file is read
    key = _pseudonym_key(args, args.out.expanduser().resolve().parent, "the output folder")
    written = write_metrics(args.paths, level=args.level, out=args.out, thresholds=_thresholds(args),
                            exclusions=args.exclusions, pseudonym_key=key)
    if written.files:   # what was read and what was skipped, as `validate` lists it: a skipped file is named
        print("files:", file=sys.stderr)
        for line in written.files:
            _say_line(line, file=sys.stderr)
    for warning in written.warnings:
        _say_line(f"warning: {warning}", file=sys.stderr)
    _say(f"wrote {written.rows} {args.level} row(s) to {written.path}")
    _print_pseudonym_note(key)
    return 0


def _pseudonym_key(args: argparse.Namespace, shared: Path, what: str):
    """The key of a --pseudonymize run (created if missing), or None. Its place is checked against the
    `shared` output folder first, so that a refused key is never created there (--dry-run included)."""
    if not (args.pseudonymize or args.pseudonym_key):
        return None
    from adoption_kit.privacy import key_path, load_key, refuse_key_in_outputs

    refuse_key_in_outputs(key_path(args.pseudonym_key), shared, what)
    return load_key(args.pseudonym_key)


def _print_pseudonym_note(key) -> None:
    if key is not None:
        print(f"pseudonymized: customer names and tenant ids replaced by tokens; key {key.path} and name "
              f"lookup {key.mapping_path} stay on this computer (never in the outputs)", file=sys.stderr)


def _add_pseudonym_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("privacy")
    group.add_argument("--pseudonymize", action="store_true",
                       help="replace customer names by stable tokens (Customer-1a2b3c4d) and tenant ids by "
                            "GUID-shaped stand-ins, so the outputs can be shared without naming customers")
    group.add_argument("--pseudonym-key", type=Path, default=None, metavar="FILE",
                       help="the secret key of the tokens (implies --pseudonymize; created if missing; default "
                            "~/.config/adoption-kit/pseudonym.key, or under $XDG_CONFIG_HOME); its name lookup "
                            "pseudonym-map.csv is written beside it, never with the outputs")


def _command_sample(args: argparse.Namespace) -> int:
    from adoption_kit.sample.generator import write_sample
    from adoption_kit.sample.insights import write_insights_sample

    if args.format == "insights":
        files = write_insights_sample(args.out_dir, customers=args.customers, seed=args.seed)
    else:
        files = write_sample(args.out_dir, customers=args.customers, seed=args.seed, page_size=args.page_size)
    print(f"wrote {len(files)} file(s) for {args.customers} customer(s) to {args.out_dir}")
    return 0


def _command_report(args: argparse.Namespace) -> int:
    from adoption_kit.render import describe_run, render_reports
    from adoption_kit.store import check_output

    check_output(args.out, [args.data], folder=True)   # before the key is made and any file is read
    key = _pseudonym_key(args, args.out, "the reports folder")
    result = render_reports(
        args.data, args.out, customers=args.customer, segments=args.segment, workers=args.workers,
        force=args.force, dry_run=args.dry_run, thresholds=_thresholds(args), exclusions_path=args.exclusions,
        as_of=args.as_of, timeout=args.timeout, top_n=args.top_n, stale_after_days=args.stale_after_days,
        today=args.today, templates_dir=args.templates, pseudonym_key=key, audience=args.audience,
        pdf=args.pdf, paper=args.paper, charts=args.charts, xlsx=args.xlsx, fresh_kernels=args.fresh_kernels,
        kernel_reports=args.kernel_reports, html_only=args.html_only, notebook_png=args.notebook_png,
        cluster=args.cluster)
    _say(describe_run(result))
    _print_pseudonym_note(key)
    if not result.dry_run:
        print(f"open {result.index_path}")
    return result.exit_code


def _thresholds(args: argparse.Namespace):
    return Thresholds(deploy=args.deploy_threshold, adopt=args.adopt_threshold, upsell=args.upsell_threshold)


def _add_threshold_options(parser: argparse.ArgumentParser) -> None:
    D = DEFAULT_THRESHOLDS
    group = parser.add_argument_group("segment thresholds (fractions: 0.8 = 80%)")
    group.add_argument("--deploy-threshold", type=float, default=D.deploy, metavar="F",
                       help=f"deployment rate below this is 'deploy' (default {D.deploy})")
    group.add_argument("--adopt-threshold", type=float, default=D.adopt, metavar="F",
                       help=f"usage rate below this is 'adopt' (default {D.adopt})")
    group.add_argument("--upsell-threshold", type=float, default=D.upsell, metavar="F",
                       help=f"both rates at or above this is 'upsell' (default {D.upsell})")
    parser.add_argument("--exclusions", type=Path, default=None, metavar="CSV",
                        help="exclusion list (product_id,product_name,reason); default: the packaged list")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adoption-kit",
        description="Licence deployment and usage analysis for Microsoft CSP partners, "
                    "from Partner Center exports.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"adoption-kit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate", help="check export files and summarise what was found",
        description="Read every export under PATH (files or folders), check it against its schema and print "
                    "a summary, or every problem at once (exit code 2).",
        epilog="example:\n  adoption-kit validate data/sample ~/Downloads/usage-page-1.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    validate.add_argument("paths", nargs="+", metavar="PATH")
    validate.set_defaults(handler=_command_validate)

    metrics = commands.add_parser(
        "metrics", help="compute deployment and usage metrics to CSV or Parquet",
        description="Compute deployment % and usage % at one level and write them as CSV or Parquet "
                    "(rates are fractions: 1.0 = 100%).",
        epilog="examples:\n  adoption-kit metrics data/sample --level customer --out customers.csv\n"
               "  adoption-kit metrics exports/ --level workload --out workloads.parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    metrics.add_argument("paths", nargs="+", metavar="PATH")
    metrics.add_argument("--level", choices=("workload", "product", "customer", "portfolio"),
                         default="customer")
    metrics.add_argument("--out", type=Path, required=True, metavar="FILE.csv|FILE.parquet")
    _add_threshold_options(metrics)
    _add_pseudonym_options(metrics)
    metrics.set_defaults(handler=_command_metrics)

    sample = commands.add_parser(
        "sample", help="write a deterministic synthetic portfolio in the real export shapes",
        description="Write Partner Center-shaped exports (deployment and usage API JSON pages, a "
                    "subscriptions CSV) for a synthetic book with planted cases.",
        epilog="example:\n  adoption-kit sample /tmp/book --customers 20000 --seed 1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sample.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    sample.add_argument("--customers", type=int, default=50)
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--page-size", type=int, default=200, metavar="N",
                        help="records per API JSON page (Partner Center's maximum is 10000; default 200)")
    sample.add_argument("--format", choices=("rest", "insights"), default="rest",
                        help="rest: the analytics REST feeds (default); insights: 13 months of the Insights "
                             "OfficeUsage, DynamicsUsage and seats downloads")
    sample.set_defaults(handler=_command_sample)

    report = commands.add_parser(
        "report", help="render the portfolio, low-adoption and per-customer reports (HTML + notebooks)",
        description="Execute the report templates in notebooks/reports/ with papermill (metrics computed "
                    "once, each notebook reads its slice) and write, under OUT/<data date>/: the executed "
                    "notebooks, offline HTML with the code hidden, index.html, low-adoption-accounts.csv "
                    "and manifest.json. Reports whose inputs, parameters, kit version and template are "
                    "unchanged are skipped. Exit code 0: all rendered or current; 1: some report failed "
                    "(the others are rendered); 2: bad input, nothing rendered.",
        epilog="examples:\n"
               "  adoption-kit report data/sample --out reports\n"
               "  adoption-kit report data/2026-11 --out reports --segment adopt,deploy --workers 4\n"
               "  adoption-kit report data/2026-11 --out reports --customer 0112a436-b14e-4888-967b-ca4bb2cf1234\n"
               "  adoption-kit report data/2026-11 --out reports --dry-run\n"
               "  adoption-kit report data/2026-11 --out reports --fresh-kernels   # a new kernel per report\n"
               "  adoption-kit report data/2026-11 --out reports --html-only       # HTML only, no notebooks\n"
               "  adoption-kit report /shared/data/2026-11 --out /shared/reports --cluster tcp://10.0.0.5:8786"
               "   # on a Dask cluster\n"
               "  0 6 * * 1  cd ~/adoption-kit && .venv/bin/adoption-kit report data/latest --out reports  # cron",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("data", type=Path, metavar="DATA", help="folder (or file) of Partner Center exports")
    report.add_argument("--out", type=Path, required=True, metavar="REPORTS_DIR",
                        help="where the run folder REPORTS_DIR/<YYYY-MM-DD of the data>/ is written")
    report.add_argument("--customer", action="append", metavar="ID",
                        help="render only this customer (tenant id, or its name: exact, any case); repeat for more "
                             "(default: all)")
    report.add_argument("--segment", action="append", metavar="SEG[,SEG]",
                        help="render only customers in these segments (data_check, deploy, adopt, upsell, "
                             "healthy); comma-separated or repeated")
    report.add_argument("--workers", type=int, default=None, metavar="N",
                        help="notebooks rendered in parallel processes (default: the machine's cores)")
    report.add_argument("--cluster", default=None, metavar="tcp://HOST:PORT",
                        help="render on the Dask distributed cluster whose scheduler is at this address, e.g. "
                             "tcp://10.0.0.5:8786 (needs: pip install 'adoption-kit[cluster]'); every worker runs "
                             "one thread (dask worker tcp://10.0.0.5:8786 --nthreads 1 --nworkers N) with the same "
                             "adoption-kit, and --out is on storage all workers see at the same absolute path; "
                             "instead of --workers")
    report.add_argument("--force", action="store_true", help="render every report, even those already current")
    report.add_argument("--charts", choices=("shared", "inline", "static"), default="shared",
                        help="live charts load the run folder's _assets/vega-bundle.js (shared, the default), carry "
                             "it in every page (inline: a report that stands alone, +0.9 MB each) or stay static "
                             "SVG (static); use --force to apply it to reports already current")
    report.add_argument("--fresh-kernels", action="store_true",
                        help="start a new kernel for every report (slower) instead of one warm kernel per worker "
                             "that renders report after report, its namespace reset between them")
    report.add_argument("--kernel-reports", type=int, default=200, metavar="N",
                        help="replace a worker's warm kernel after N reports (default 200); it is always "
                             "replaced after a failed, timed-out or crashed report")
    report.add_argument("--html-only", action="store_true",
                        help="write the HTML reports without the executed .ipynb beside each (the smallest run "
                             "folder; what account managers read is the HTML)")
    report.add_argument("--notebook-png", action=argparse.BooleanOptionalAction, default=None,
                        help="a PNG copy of every chart in the executed notebooks, which JupyterLab shows (it "
                             "shows no SVG of an untrusted notebook); default: on for the portfolio and "
                             "low-adoption notebooks, off for customer notebooks; the HTML never needs it")
    report.add_argument("--dry-run", action="store_true",
                        help="print the plan (notebook, parameters, output per report); execute nothing")
    report.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                        help="limit per notebook; a report over it fails, the others go on (default 600)")
    report.add_argument("--as-of", default="latest", metavar="YYYY-MM-DD",
                        help="use each customer's newest export on or before this date (default: latest)")
    report.add_argument("--top-n", type=int, default=None, metavar="N",
                        help="rows/customers shown in the portfolio and low-adoption tables (default: the "
                             "template's)")
    report.add_argument("--stale-after-days", type=int, default=None, metavar="DAYS",
                        help="warn in the reports when the data is older than this (default: the template's)")
    report.add_argument("--today", default="", metavar="YYYY-MM-DD",
                        help="the date the staleness warning counts from (default: now)")
    report.add_argument("--templates", type=Path, default=REPORT_TEMPLATES_DIR, metavar="DIR",
                        help="folder with the three report templates (default: notebooks/reports)")
    audience = report.add_argument_group("audience and PDF")
    audience.add_argument("--audience", choices=("internal", "customer"), default="internal",
                          help="internal (default): every report, for the account manager; customer: only the "
                               "customer reports, each holding that customer's data only, to send to the "
                               "customer (under for-customer/, with PDFs)")
    audience.add_argument("--pdf", action=argparse.BooleanOptionalAction, default=None,
                          help="print NAME.pdf beside each NAME.html with headless Chromium (default: on for "
                               "--audience customer, off otherwise)")
    audience.add_argument("--paper", choices=("a4", "letter"), default="a4", help="PDF paper size (default a4)")
    audience.add_argument("--xlsx", action="store_true",
                          help="also write adoption-lists.xlsx in the run folder: the CRM action list and the "
                               "customer table for Excel (percentages formatted, header frozen, each name "
                               "linked to its report); internal audience only")
    _add_threshold_options(report)
    _add_pseudonym_options(report)
    report.set_defaults(handler=_command_report)

    return parser


def _let_pending_signals_run() -> None:
    """Python runs pending signal handlers when a Python function starts: this is one."""


def main(argv: Sequence[str] | None = None) -> int:
    with sigterm_as_interrupt():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            handler: Callable[[argparse.Namespace], int] = args.handler
            return handler(args)
        except AdoptionKitError as error:
            # One line per problem, split on "\n" only: a U+2028 or a newline in a file name stays inside its line.
            lines = [str(p) for p in error.problems] if isinstance(error, InputFileError) else str(error).split("\n")
            for line in lines:
                _say_line(f"error: {line}", file=sys.stderr)
            return error.exit_code
        except OSError as error:   # an output failing mid-way (disk full, made read-only): one line, no traceback
            where = error.filename or "an output"
            _say_line(f"error: {where}: cannot be written ({error.strerror or error}); fix: free some space or "
                      f"choose a folder you can write to", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            # One Ctrl-C can surface twice (polars raises it while Python's own flag is still set): the run is
            # stopped already, so a repeat only retries the message.
            while True:
                try:
                    _let_pending_signals_run()
                    print("interrupted; rerun to complete (finished files are kept, partial ones were not "
                          "written)", file=sys.stderr)
                    return 130
                except KeyboardInterrupt:
                    continue


if __name__ == "__main__":
    sys.exit(main())
