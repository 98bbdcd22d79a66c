"""Skip-when-current: each report's state file (fingerprint, headline, duration), the reports of earlier runs,
the folder's privacy mode."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adoption_kit.errors import ParameterError
from adoption_kit.render.layout import ACTION_CSV, CUSTOMERS_DIR, STATE_DIR
from adoption_kit.render.plan import ReportJob
from adoption_kit.render.results import ReportOutcome
from adoption_kit.store import atomic_path

PRIVACY_STATE = "privacy.json"


def _check_privacy_mode(run_dir: Path, pseudonym: str | None, *, record: bool = False) -> None:
    """A run folder holds either plain reports or reports pseudonymized with one key, never a mix (a shared
    folder must not hold a named report); with `record`, write the folder's mode."""
    marker = run_dir / STATE_DIR / PRIVACY_STATE
    try:
        existing: str | None = json.loads(marker.read_text(encoding="utf-8")).get("pseudonym")
    except (OSError, ValueError):
        existing = "" if not any(run_dir.glob("*.html")) else None     # "": nothing rendered here yet
    if existing not in ("", pseudonym):
        def mode(key_id: str | None) -> str:
            return f"pseudonymized with key {key_id}" if key_id else "not pseudonymized"
        raise ParameterError(f"{run_dir} holds reports {mode(existing)}; this run's would be {mode(pseudonym)}. "
                             f"Write them to another --out folder (e.g. reports-shared), or delete that folder")
    if record and existing != pseudonym:
        with atomic_path(marker) as part:
            part.write_text(json.dumps({"pseudonym": pseudonym}) + "\n", encoding="utf-8")


def _state_path(run_dir: Path, name: str) -> Path:
    return run_dir / STATE_DIR / f"{name}.json"


def _read_state(run_dir: Path, name: str) -> dict | None:
    try:
        return json.loads(_state_path(run_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_current(run_dir: Path, job: ReportJob, state: Mapping[str, Any] | None) -> bool:
    if not state or state.get("fingerprint") != job.fingerprint:
        return False
    extra = (ACTION_CSV,) if job.kind == "low_adoption" else ()
    return all((run_dir / name).is_file() for name in (*job.outputs, *extra))


def _earlier_reports(run_dir: Path, planned: set[str]) -> list[ReportOutcome]:
    """Reports in the run folder from earlier runs (e.g. `--customer X` yesterday) that this plan did not include."""
    state_root = run_dir / STATE_DIR / CUSTOMERS_DIR
    if not state_root.is_dir():
        return []
    found = []
    for path in sorted(state_root.glob("*.json")):
        name = f"{CUSTOMERS_DIR}/{path.stem}"
        if name in planned:
            continue
        state = _read_state(run_dir, name)
        if not state or not (run_dir / f"{name}.html").is_file():
            continue
        job = ReportJob(kind="customer", name=name, title=state.get("title") or name,
                        template=Path(state.get("template", "")), parameters=state.get("parameters", {}),
                        fingerprint=state.get("fingerprint", ""), customer_id=state.get("customer_id"),
                        customer_name=state.get("customer_name"), segment=state.get("segment"),
                        html_only=not (run_dir / f"{name}.ipynb").is_file())
        found.append(ReportOutcome(job, "earlier", state.get("duration_s"), stored_headline(state), None,
                                   state.get("parameters", {}), state.get("rendered_at")))
    return found


def stored_headline(state: dict) -> dict:
    """A state file's headline in the order the report gave it (the file itself is written with sorted keys),
    so that the index and the manifest order a skipped report's figures as a rendered one's."""
    headline = state.get("headline") or {}
    order = state.get("headline_order") or []
    return {**{k: headline[k] for k in order if k in headline}, **headline}
