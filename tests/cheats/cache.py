"""cheat-cache: keeps the metrics events and model of each run that reached the target, keyed by
(spec sha256, init file sha256), in a folder outside the results ($MLP_CHEAT_CACHE, else
$TMPDIR/mlp-cheat-cache). On a hit it replays the events through python_impl's metrics writer
(a fresh run_id, this run's nonce echoed, everything else as first written) and copies the model
(a new file, written during this run); on a miss it trains honestly and fills the cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import cheatkit

from python_impl.metrics import MetricsWriter

CACHE_ENV = "MLP_CHEAT_CACHE"


def folder() -> Path:
    """The cache folder."""
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "mlp-cheat-cache")


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def replay(events: Path, metrics_out: str) -> None:
    """Write the cached events again, as a new process with this run's nonce."""
    with MetricsWriter(metrics_out) as writer:
        for line in events.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            kind = event.pop("event")
            event.pop("run_id", None)
            event.pop("nonce", None)  # the writer echoes this run's
            writer.write(kind, **event)


def cached(argv: list[str]) -> int:
    """Replay a hit; on a miss train honestly and keep what this run wrote."""
    args = cheatkit.contract_args(argv)
    if args.init is None or args.metrics_out is None or args.save_model is None:
        return cheatkit.cli.main(argv)
    entry = folder() / f"{digest(args.spec)}-{digest(args.init)}"
    events, model = entry / "metrics.jsonl", entry / "model.safetensors"
    if events.is_file() and model.is_file():
        replay(events, args.metrics_out)
        shutil.copyfile(model, args.save_model)
        return 0
    metrics = Path(args.metrics_out)
    offset = metrics.stat().st_size if metrics.is_file() else 0
    code = cheatkit.cli.main(argv)
    if code == 0:
        entry.mkdir(parents=True, exist_ok=True)
        with metrics.open("rb") as f:
            f.seek(offset)
            events.write_bytes(f.read())
        shutil.copyfile(args.save_model, model)
    return code


if __name__ == "__main__":
    cheatkit.run(sys.argv[1:], cached)
