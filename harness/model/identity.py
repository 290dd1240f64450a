"""What makes two results folders comparable: the same workload on the same machine.

One definition for every command that puts folders side by side (compare, merge, store):
- the workload: sha256 of spec.json in canonical form without `dataset.dir` (a path on the
  machine that ran it), so the same spec run from two checkouts is one workload;
- the machine: a fingerprint of env.json's hardware facts (CPU model, cores, memory,
  architecture, the BLAS kernel NumPy runs): not the host name nor library versions, so a VM
  rebuilt under another name, or a NumPy upgrade, stays one machine's history.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def machine_of(env: dict[str, Any]) -> dict[str, Any]:
    """The hardware facts of env.json and their fingerprint."""
    numpy = env.get("numpy") if isinstance(env.get("numpy"), dict) else {}
    pools = [p for p in numpy.get("blas") or [] if isinstance(p, dict)]
    facts = {
        "cpu_model": str(env.get("cpu_model") or "unknown CPU"),
        "logical_cores": env.get("logical_cores") or env.get("cpu_cores"),
        "memory_bytes": env.get("memory_bytes"),
        "arch": env.get("machine"),
        "blas_kernel": (pools[0].get("architecture") if pools else None),
    }
    key = json.dumps(facts, sort_keys=True).encode()
    return {"fingerprint": hashlib.sha256(key).hexdigest()[:16], **facts}


def spec_key(spec: dict[str, Any], digits: int = 16) -> str:
    """sha256 of the canonical spec without `dataset.dir`, its first `digits` hex digits."""
    canonical = json.loads(json.dumps(spec))
    canonical.pop("schema_version", None)
    if isinstance(canonical.get("dataset"), dict):
        canonical["dataset"].pop("dir", None)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:digits]
