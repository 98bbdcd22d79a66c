"""Re-execute the report templates in place on the bundled sample, so their committed outputs are current.

    .venv/bin/python tools/execute_templates.py            # all three templates
    .venv/bin/python tools/execute_templates.py 20         # the ones whose file name contains "20"

nbval (`make test`) compares the outputs of the cells tagged `nbval-check-output` with these committed
outputs, so after a change that legitimately alters what a report shows (a metric, a text, a sample
case), run this, read the diff of the checked outputs (`git diff notebooks/reports`), and commit it with
the change. Never refresh only to make a failing test pass without understanding the difference.

What it does: runs each notebook top to bottom with its default parameters (no papermill injection) in
the `python3` kernel of the environment running this script, then writes it back with execution counts,
without timing metadata, keeping the outputs of the cells that tests compare (tagged `nbval-check-output`
or `headline`) and dropping the others (charts: megabytes of SVG and PNG that nothing compares), so the
committed templates stay small and their diffs readable. Run a template in JupyterLab to see its charts.
It refuses to run outside the pinned environment: stored outputs
depend on library versions (pandas 3 changed reprs, altair/vl-convert change the SVG).
"""
from __future__ import annotations

import argparse
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = ROOT / "notebooks" / "reports"
# Cells whose committed outputs tests compare: nbval (--nbval-lax) and tests/report/test_notebooks.py (headline).
KEPT_OUTPUT_TAGS = frozenset({"nbval-check-output", "headline"})
PINNED = ("pandas", "polars", "altair", "vl-convert-python", "ipykernel", "nbformat", "nbclient", "pyarrow")


def pinned_versions(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def check_environment() -> list[str]:
    """Problems that would make the stored outputs differ from what CI produces (empty list: fine)."""
    problems = []
    if sys.version_info[:2] != (3, 11):
        problems.append(f"Python {sys.version.split()[0]} is running; the project pins 3.11")
    pins = pinned_versions(ROOT / "requirements.txt")
    for name in PINNED:
        wanted = pins.get(name)
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if wanted and have != wanted:
            problems.append(f"{name} {have} is installed; requirements.txt pins {wanted}")
    return problems


def strip_unchecked_outputs(nb) -> int:
    """Drop the outputs of every code cell that no test compares; returns how many outputs were dropped.

    Execution counts stay (nbval skips cells without one), so the notebook still reads as executed in order.
    """
    dropped = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and not KEPT_OUTPUT_TAGS & set(cell.metadata.get("tags", [])):
            dropped += len(cell.outputs)
            cell.outputs = []
    return dropped


def execute(path: Path, *, timeout: int) -> float:
    """Execute one notebook in place; returns the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    strip_unchecked_outputs(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("match", nargs="*", help="only templates whose file name contains one of these")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    parser.add_argument("--strip-only", action="store_true",
                        help="only drop the unchecked outputs of the committed templates; execute nothing")
    args = parser.parse_args(argv)
    if args.strip_only:
        import nbformat

        for path in sorted(TEMPLATES_DIR.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            dropped = strip_unchecked_outputs(nb)
            nbformat.write(nb, path)
            size = path.stat().st_size / 1024
            print(f"{path.relative_to(ROOT)}: {dropped} unchecked output(s) dropped, {size:.0f} KB")
        return 0

    problems = check_environment()
    if problems:
        print("refusing to refresh the committed outputs outside the pinned environment "
              "(run `make venv`, then `.venv/bin/python tools/execute_templates.py`):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    paths = sorted(TEMPLATES_DIR.glob("*.ipynb"))
    if args.match:
        paths = [p for p in paths if any(m in p.name for m in args.match)]
    if not paths:
        print(f"no template matches {args.match} in {TEMPLATES_DIR.relative_to(ROOT)}", file=sys.stderr)
        return 2
    for path in paths:
        seconds = execute(path, timeout=args.timeout)
        size = path.stat().st_size
        print(f"{path.relative_to(ROOT)}: executed in {seconds:.1f} s, {size / 1024:.0f} KB")
    print("now review `git diff --stat notebooks/reports` and the checked cells' outputs before committing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
