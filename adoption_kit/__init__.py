"""adoption-kit: Partner Center license exports in, deployment and usage metrics out
(this file only re-exports the public API)."""
from __future__ import annotations

__version__ = "0.1.0"
