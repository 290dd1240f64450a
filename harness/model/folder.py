"""One results folder, loaded once: the object every stage takes.

pyperf loads its JSON once into objects that every command uses. Here a `Folder` reads each
of the folder's JSON files the first time a stage asks for it and keeps it, so `rebuild`
(ingest -> analyze -> plot -> report) reads run.json, outcome.json, spec.json, env.json and
parity.json once, and analyze hands the `Analysis` it wrote to plot and the report in memory.
The files the derived stages write (tables/, analysis.json) change during a rebuild: the
tables are read by whoever needs them, and analysis.json is kept only as analyze hands it over.
A stage given a path opens the folder itself (`Folder.of`), so each stage still runs alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.model.analysis import Analysis, read_analysis
from harness.model.records import (
    Manifest,
    Outcome,
    read_json,
    read_manifest,
    read_optional_json,
    read_outcome,
)


@dataclass(eq=False)
class Folder:
    """A results folder and its typed files, each read at most once."""

    path: Path

    @classmethod
    def of(cls, where: Folder | Path | str) -> Folder:
        """The folder itself, or a new one opened at a path."""
        return where if isinstance(where, Folder) else cls(Path(where))

    @property
    def has_manifest(self) -> bool:
        """Whether run.json exists (`report --hyperfine-json` folders have one too)."""
        return (self.path / "run.json").is_file()

    @cached_property
    def manifest(self) -> Manifest:
        """run.json: what was asked (an empty Manifest when the folder has none)."""
        return read_manifest(self.path) if self.has_manifest else Manifest([], None, "")

    @cached_property
    def outcome(self) -> Outcome:
        """outcome.json: what happened while measuring."""
        return read_outcome(self.path)

    @cached_property
    def spec(self) -> dict[str, Any]:
        """spec.json: the workload every contender ran."""
        return read_json(self.path / "spec.json", check_schema=False)

    @cached_property
    def env(self) -> dict[str, Any] | None:
        """env.json: the machine and the software versions (None when absent)."""
        return read_optional_json(self.path / "env.json")

    @cached_property
    def parity(self) -> dict[str, Any] | None:
        """parity.json: verify's K-step check (None when skipped or absent)."""
        return read_optional_json(self.path / "parity.json")

    @cached_property
    def analysis(self) -> Analysis:
        """analysis.json, as analyze handed it over (`keep`) or as read from the file."""
        return read_analysis(self.path)

    def keep(self, analysis: Analysis) -> None:
        """Hold the Analysis just written, so later stages need not read it back."""
        self.__dict__["analysis"] = analysis
