"""kettrack: track the literature on ketamine for alcohol use disorder.

Saved PubMed (and ClinicalTrials.gov) queries feed a local, deduplicated SQLite
library; digests, searches, claim checks and exports read from it.
"""

__version__ = "0.1.0"
