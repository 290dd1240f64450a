"""`report --hyperfine-json FILE...`: a results folder made from any hyperfine exports.

The exports are copied into hyperfine-json/ and a run.json (Manifest with hyperfine_exports)
is written; the usual ingest -> analyze -> plot -> report pipeline then renders the folder, and
`report DIR` re-renders it like any other (no metrics: those sections say so).
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from harness.errors import HarnessError
from harness.model.hyperfine import Export, parse_export
from harness.model.records import (
    ContenderEntry,
    Manifest,
    no_links,
    read_optional_json,
    write_manifest,
)


def import_exports(files: list[Path], out_dir: Path) -> None:
    """Check every file, then start the folder: copies in hyperfine-json/, a run.json."""
    if not files:
        raise HarnessError("report --hyperfine-json: no files given")
    existing = read_optional_json(out_dir / "run.json")
    if existing is not None and "hyperfine_exports" not in existing:
        raise HarnessError(f"{out_dir}: holds the results of a harness run; choose another --out")
    exports = [parse_export(f) for f in files]  # every file checked before anything is written
    for f, export in zip(files, exports, strict=True):
        if not export.results:
            raise HarnessError(f"{f}: a hyperfine export without results (nothing was timed)")
    if out_dir.exists() and not out_dir.is_dir():
        raise HarnessError(f"{out_dir}: exists and is not a folder; choose another --out")
    copies = no_links(out_dir / "hyperfine-json")
    copies.mkdir(parents=True, exist_ok=True)
    for stale in copies.glob("*.json"):
        stale.unlink()
    stored: list[str] = []
    for f in files:
        name, n = f.name, 1
        while name in stored:  # same file name from two folders: a.json, a-2.json
            n += 1
            name = f"{f.stem}-{n}{f.suffix}"
        shutil.copyfile(f, copies / name)
        stored.append(name)
    contenders: list[ContenderEntry] = []
    for export, names in zip(exports, export_names(stored, exports), strict=True):
        for result, name in zip(export.results, names, strict=True):
            if all(c.name != name for c in contenders):
                contenders.append(ContenderEntry(name=name, argv=result.command))
    versions = sorted({e.hyperfine_version or f"schema {e.schema}" for e in exports})
    command = ["python", "-m", "harness", "report", "--hyperfine-json", *map(str, files)]
    manifest = Manifest(
        contenders=contenders,
        reference=contenders[0].name,
        command_line=shlex.join(command),
        hyperfine={"version": ", ".join(versions)},
        hyperfine_exports=stored,
    )
    write_manifest(out_dir, manifest)


def export_names(files: list[str], exports: list[Export]) -> list[list[str]]:
    """Contender names per file: the commands, or file stems when commands repeat."""
    names = [[r.name for r in e.results] for e in exports]
    flat = [n for group in names for n in group]
    if len(set(flat)) == len(flat):
        return names
    stems = [Path(f).stem for f in files]
    return [
        [stem if len(group) == 1 else f"{stem}: {n}" for n in group]
        for stem, group in zip(stems, names, strict=True)
    ]
