"""manifest.json: what a run was asked, what it read (with hashes), and what happened to each report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adoption_kit import __version__
from adoption_kit.render.hashing import _packaged_exclusions_sha256
from adoption_kit.render.layout import ACTION_CSV, BUNDLE_DIR, INDEX
from adoption_kit.render.plan import _check_segments
from adoption_kit.render.results import ReportOutcome, RunResult, _now_iso
from adoption_kit.store import atomic_path
from adoption_kit.values import file_sha256, iso

if TYPE_CHECKING:  # pragma: no cover
    from adoption_kit.analysis import Analysis


def _write_manifest(result: RunResult, analysis: Analysis, **run: Any) -> None:
    exclusions = run["exclusions_path"]
    manifest = {
        "kit_version": __version__,
        "run_folder": str(result.run_dir),
        "started_at": run["started_at"],
        "finished_at": _now_iso(),
        "duration_s": round(result.duration_s, 3),
        "command": {
            "data_path": str(run["data_path"]), "out_dir": str(run["out_dir"]),
            "customers": list(run["customers"]) if run["customers"] else None,
            "segments": sorted(_check_segments(run["segments"]) or []) or None,
            "workers": run["workers"], "workers_used": result.workers, "force": run["force"],
            "timeout_s": run["timeout"], "templates_dir": str(run["templates_dir"]),
            "kernels": run.get("kernels", "warm"), "kernel_reports": run.get("kernel_reports"),
            "html_only": run.get("html_only", False), "notebook_png": run.get("notebook_png"),
            "cluster": run.get("cluster"),
        },
        "parameters": result.common_parameters,
        "thresholds": {"deploy": analysis.thresholds.deploy, "adopt": analysis.thresholds.adopt,
                       "upsell": analysis.thresholds.upsell},
        "inputs": [dict(source) for source in analysis.sources],
        "exclusions": {"path": str(Path(exclusions).resolve()) if exclusions else "packaged",
                       "sha256": file_sha256(exclusions) if exclusions else _packaged_exclusions_sha256()},
        "processed_at": {"min": iso(analysis.processed_at_min), "max": iso(analysis.processed_at_max)},
        "pseudonymized": ({"key_id": run["pseudonym"], "names": "Customer-<first 8 hex digits of "
                           "HMAC-SHA256(key, tenant id)>", "tenant_ids": "the first 32 hex digits of the same "
                           "HMAC, as a GUID"} if run["pseudonym"] else False),
        "warnings": list(analysis.warnings),
        "outputs": {"index": INDEX, "action_csv": ACTION_CSV, "bundle": BUNDLE_DIR},
        "summary": {"reports": len(result.reports), "rendered": result.count("rendered"),
                    "current": result.count("current"), "failed": result.count("failed"),
                    "earlier": result.count("earlier")},
        "reports": [_report_entry(r) for r in result.reports],
    }
    with atomic_path(result.manifest_path) as part:
        part.write_text(json.dumps(manifest, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")


def _report_entry(r: ReportOutcome) -> dict[str, Any]:
    return {
        "name": r.job.name, "kind": r.job.kind, "title": r.job.title, "customer_id": r.job.customer_id,
        "customer_name": r.job.customer_name, "segment": r.job.segment,
        "template": str(r.job.template), "html": r.job.html,
        "notebook": None if r.job.html_only else r.job.notebook,
        "outcome": r.outcome,
        "duration_s": r.duration_s if r.outcome in ("rendered", "failed") else 0.0,
        "rendered_at": r.rendered_at, "fingerprint": r.job.fingerprint,
        "parameters": r.parameters, "headline": r.headline, "error": r.error,
    }
