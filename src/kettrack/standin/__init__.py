"""In-process and loopback stand-ins for NCBI E-utilities and ClinicalTrials.gov,
serving the bundled snapshot."""
