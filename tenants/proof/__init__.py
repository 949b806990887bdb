"""The access log's proof: canonical hashing, sealing into per-tenant chains and Merkle trees,
signed checkpoints, and the bundle an auditor verifies offline (docs/audit.md).

``tools/verify_bundle.py`` re-implements the primitives independently (standard library and
``cryptography`` only), so a bug on one side shows up as a verification failure.
"""
