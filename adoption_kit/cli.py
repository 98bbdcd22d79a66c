"""The `adoption-kit` command: a thin argparse shell over the kit's documented functions; no logic of its own."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from adoption_kit import __version__
from adoption_kit.errors import AdoptionKitError

EXAMPLES = """\
examples:
  adoption-kit validate data/sample
  adoption-kit metrics data/sample --level customer --out reports/customers.csv
  adoption-kit metrics ~/Downloads/partner-center/ --level product --out products.parquet
  adoption-kit sample /tmp/book --customers 20000 --seed 1
  adoption-kit report data/sample --out reports
"""


def _command_validate(args: argparse.Namespace) -> int:
    from adoption_kit.loaders import load_exports

    exports = load_exports(args.paths)
    print(exports.summary())
    return 0


def _command_metrics(args: argparse.Namespace) -> int:
    from adoption_kit.outputs import write_metrics

    written = write_metrics(args.paths, level=args.level, out=args.out, thresholds=_thresholds(args),
                            exclusions=args.exclusions)
    print(f"wrote {written.rows} {args.level} row(s) to {written.path}")
    return 0


def _command_sample(args: argparse.Namespace) -> int:
    from adoption_kit.sample import write_sample

    files = write_sample(args.out_dir, customers=args.customers, seed=args.seed, page_size=args.page_size)
    print(f"wrote {len(files)} file(s) for {args.customers} customer(s) to {args.out_dir}")
    return 0


def _thresholds(args: argparse.Namespace):
    from adoption_kit.config import Thresholds

    return Thresholds(deploy=args.deploy_threshold, adopt=args.adopt_threshold, upsell=args.upsell_threshold)


def _add_threshold_options(parser: argparse.ArgumentParser) -> None:
    from adoption_kit.config import DEFAULT_THRESHOLDS as D

    group = parser.add_argument_group("segment thresholds (fractions: 0.8 = 80%%)")
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
        description="Compute deployment %% and usage %% at one level and write them as CSV or Parquet "
                    "(rates are fractions: 1.0 = 100%%).",
        epilog="examples:\n  adoption-kit metrics data/sample --level customer --out customers.csv\n"
               "  adoption-kit metrics exports/ --level workload --out workloads.parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    metrics.add_argument("paths", nargs="+", metavar="PATH")
    metrics.add_argument("--level", choices=("workload", "product", "customer", "portfolio"),
                         default="customer")
    metrics.add_argument("--out", type=Path, required=True, metavar="FILE.csv|FILE.parquet")
    _add_threshold_options(metrics)
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
    sample.set_defaults(handler=_command_sample)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except AdoptionKitError as error:
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted; rerun to complete (finished files are kept, partial ones were not written)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
