"""One record-hash scheme for every source.

A stored record is fingerprinted by what its *source* said, normalised: the
fields a PubMed, ClinicalTrials.gov or Europe PMC record gives, never the
judgements kettrack adds (design, species, sample size) nor anything an output
adds. So a new output key or a better classifier never makes an unchanged
record look revised. :func:`record_hash` is the SHA-1 of the canonical JSON
(sorted keys, compact, UTF-8) of those fields.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(data: Any) -> str:
    """``data`` as canonical JSON: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def record_hash(source_fields: dict[str, Any]) -> str:
    """SHA-1 (hex) of a record's source fields (see the module docstring)."""
    text = canonical_json(source_fields)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()
