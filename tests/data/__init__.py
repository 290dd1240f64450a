"""Test fixtures: hyperfine exports and a synthetic results-folder writer."""
