"""The offline wiring: the bundled snapshot, served in-process by the stand-ins.

``--offline`` runs the same clients, parser and store as a real run; only the
transport differs. The E-utilities and ClinicalTrials.gov stand-ins
(:mod:`kettrack.standin`) answer from ``data/`` (``KETTRACK_SNAPSHOT_DIR``)
through ``httpx.MockTransport``, as the day ``as_of`` saw them, and with no
throttling: nothing leaves the process, so NCBI's rate limit does not apply.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import httpx

from kettrack.errors import ConfigError
from kettrack.settings import Settings
from kettrack.sources.ctgov import CtgovClient
from kettrack.sources.eutils import EutilsClient

#: requests per second offline: the in-process stand-in needs no spacing
OFFLINE_RATE = 1e6


def eutils_transport(as_of: date | None) -> httpx.BaseTransport:
    """The bundled PubMed snapshot behind the E-utilities stand-in."""
    from kettrack.standin.eutils import EutilsStandin
    from kettrack.standin.snapshot import Snapshot, default_snapshot_dir

    folder = default_snapshot_dir()
    xml = folder / "pubmed" / "snapshot.xml"
    if not xml.exists():
        raise ConfigError(f"{xml}: the offline snapshot is missing (KETTRACK_SNAPSHOT_DIR)")
    pending = folder / "pubmed" / "pending_indexing.json"
    snapshot = Snapshot.load(xml, pending if pending.exists() else None)
    return httpx.MockTransport(EutilsStandin(snapshot, as_of=as_of,
                                             links=citation_graph(folder, snapshot)))


def citation_graph(folder: Path, snapshot: Any) -> Any:
    """The snapshot's citing relations (``source/citations.toml``), for ELink; none
    when the folder has no such file. A file naming papers the snapshot lacks is
    a configuration error."""
    from kettrack.standin.links import CitationGraph

    path = folder / "source" / "citations.toml"
    if not path.exists():
        return None
    try:
        return CitationGraph.load(path, snapshot)
    except (ValueError, KeyError, OSError) as exc:
        raise ConfigError(f"{path}: {' '.join(str(exc).split())[:200]}") from None


def ctgov_transport(as_of: date | None) -> httpx.BaseTransport:
    """The bundled registry snapshot behind the ClinicalTrials.gov stand-in."""
    from kettrack.standin.ctgov import CtgovStandin, RegistrySnapshot, default_registry_path

    path = default_registry_path()
    if not path.exists():
        raise ConfigError(f"{path}: the offline registry snapshot is missing "
                          "(KETTRACK_SNAPSHOT_DIR)")
    return httpx.MockTransport(CtgovStandin(RegistrySnapshot.load(path), as_of=as_of))


def eutils_client(settings: Settings, *, offline: bool = False,
                  as_of: date | None = None) -> EutilsClient:
    """The E-utilities client a command uses: NCBI, or the snapshot offline."""
    if not offline:
        return EutilsClient(settings)
    return EutilsClient(settings.with_(rate_limit=OFFLINE_RATE),
                        transport=eutils_transport(as_of))


def ctgov_client(settings: Settings, *, offline: bool = False,
                 as_of: date | None = None) -> CtgovClient:
    """The ClinicalTrials.gov client a command uses: CT.gov, or the snapshot offline."""
    if not offline:
        return CtgovClient(settings)
    return CtgovClient(settings, transport=ctgov_transport(as_of), rate=OFFLINE_RATE)
