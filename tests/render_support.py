"""Shared by test_render.py and test_browser.py: stand-in templates, a hostile copy of the sample,
one real-template run."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from adoption_kit.config import REPORT_TEMPLATES_DIR, SAMPLE_DIR

FIXTURE_TEMPLATES = Path(__file__).parent / "fixtures" / "templates"

# Customers of the committed 50-customer sample.
HOSTILE_ID = "e0063480-4b98-4e30-990b-cee86e8083aa"      # named <img src=x onerror=alert(1)>
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
ASHSTEAD_ID = "a7192107-512a-4b73-89c1-fb82acdbbf0a"     # "Ashstead Travel AB"; renamed in hostile_sample()
SMITH_ID = "ce7fc445-2608-405a-a82d-d712c7cb1cdf"        # "Smith, Jones & Partners"
# What Ashstead is renamed to: if any of it ran in a browser, the page title would read PWNED.
TITLE_PAYLOAD = "<img src=x onerror=document.title='PWNED'><script>document.title='PWNED'</script>"


def stand_in_templates(folder: Path, *, fail_ids: tuple[str, ...] = (), sleep: str = "0.0",
                       without_action_csv: bool = False) -> Path:
    """Copy the fast stand-in templates into `folder`; the customer one raises for `fail_ids`.

    `without_action_csv` removes that parameter from the low-adoption stand-in (a partner's own template).
    `sleep` is a Python expression (it may use `customer_id` in the customer template) evaluated
    at the start of every stand-in notebook: a slow or hanging report on demand.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for template in FIXTURE_TEMPLATES.glob("*.ipynb"):
        notebook = json.loads(template.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            source = "".join(cell["source"]).replace("SLEEP = 0.0", f"SLEEP = {sleep}")
            if template.name.startswith("20-"):
                source = source.replace("FAIL_IDS: list = []", f"FAIL_IDS: list = {list(fail_ids)!r}")
            if without_action_csv and template.name.startswith("30-"):
                source = "\n".join(line for line in source.split("\n") if not line.startswith("action_csv:"))
            cell["source"] = source
        (folder / template.name).write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return folder


def hostile_sample(folder: Path) -> Path:
    """The committed sample with Ashstead Travel AB renamed to TITLE_PAYLOAD (JSON and CSV need no quoting for it)."""
    shutil.copytree(SAMPLE_DIR, folder)
    for file in folder.iterdir():
        if not file.is_file():   # activity/<TENANT-ID>/ reports carry no customer names
            continue
        text = file.read_text(encoding="utf-8")
        file.write_text(text.replace("Ashstead Travel AB", TITLE_PAYLOAD), encoding="utf-8")
    return folder


_REAL_RUN: dict = {}


def real_run(tmp_path_factory):
    """One run of the real templates on the hostile sample (2 hostile-named customers), shared by this session."""
    if "result" not in _REAL_RUN:
        from adoption_kit.render import render_reports

        root = tmp_path_factory.mktemp("real-run")
        data = hostile_sample(root / "data")
        _REAL_RUN["result"] = render_reports(
            data, root / "reports", customers=[HOSTILE_ID, ASHSTEAD_ID], workers=2,
            templates_dir=REPORT_TEMPLATES_DIR, today="2026-11-20", progress=False)
        _REAL_RUN["data"] = data
    return _REAL_RUN["result"]


def without_kit_scripts(page: str) -> str:
    """`page` without the kit's own inline scripts (render.csp: known by their SHA-256); any other script stays."""
    import re

    from adoption_kit.render.csp import kit_script_hashes, script_hash

    def drop(match: re.Match) -> str:
        return "" if script_hash(match.group(1)) in kit_script_hashes() else match.group(0)

    return re.sub(r"<script>(.*?)</script>", drop, page, flags=re.DOTALL)


# papermill's and nbclient's timing metadata, the kit's rendered_at: nothing else may differ between two renderings
_VOLATILE = re.compile(r'"(start_time|end_time|duration|rendered_at|(?:iopub|shell)\.[a-z._]+)": *'
                       r'("[^"]*"|[0-9.e+-]+|null)')


def masked_output(path: Path) -> str:
    """A report output's text, its timestamps masked (executed notebooks; an HTML report has none)."""
    text = path.read_text(encoding="utf-8")
    return _VOLATILE.sub(r'"\1": "*"', text) if path.suffix == ".ipynb" else text


def assert_same_outputs(result, other_run_dir: Path) -> None:
    """Every output file of `result`'s reports equals its namesake under `other_run_dir` but for timestamps."""
    compared = 0
    for report in result.reports:
        for name in report.job.outputs:
            assert masked_output(result.run_dir / name) == masked_output(other_run_dir / name), name
            compared += 1
    assert compared == sum(len(r.job.outputs) for r in result.reports) > 0
