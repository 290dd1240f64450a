"""The README's commands work as written: every `python -m harness` line parses, names known
contenders with a same-thread reference, and the cheap ones run in a fresh shell."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.__main__ import parser
from harness.preparation.contenders import select

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DATA = Path(__file__).parent / "data"
VENV_BIN = Path(sys.executable).parent  # the venv running the tests: what `activate` puts first


def readme_commands() -> list[str]:
    """Every command in the README's indented code blocks (comments dropped, `&&` split)."""
    commands = []
    for line in README.splitlines():
        if not line.startswith("    ") or line.startswith("     "):
            continue
        text = re.split(r"\s#\s", line)[0].strip()
        commands += [part.strip() for part in text.split("&&")]
    return [c for c in commands if c.startswith("python -m harness")]


HARNESS = readme_commands()


def _argv(command: str) -> list[str]:
    """The harness's arguments, placeholders made concrete (DIR, FILE..., <first>)."""
    words = shlex.split(re.sub(r"\[[^\]]*\]", "", command))[3:]  # drop [optional] parts
    return [re.sub(r"^FILE\.\.\.$", "FILE", w) for w in words]


def test_the_readme_has_the_commands_this_test_checks():
    assert len(HARNESS) >= 15, HARNESS
    assert "python -m harness --help" in HARNESS


@pytest.mark.parametrize("command", HARNESS)
def test_every_harness_command_in_the_readme_parses(command, capsys):
    argv = _argv(command)
    if argv == ["--help"]:
        return
    args = parser().parse_args(argv)  # SystemExit (a test failure) on an unknown flag
    contenders = getattr(args, "contenders", None)
    if contenders and not getattr(args, "contenders_file", None):
        from harness.preparation.contenders import parse_threads

        threads = parse_threads(args.threads) if getattr(args, "threads", None) else None
        chosen = select(contenders.split(","), threads)
        references = {c.threads for c in chosen if c.implementation == "python-numpy"}
        alone = [c.name for c in chosen if c.threads not in references]
        assert not alone, f"{command}: no python-numpy at the threads of {alone}"


def _fresh_shell(tmp_path: Path) -> dict[str, str]:
    """The environment of a new shell with the venv activated (and nothing else of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PYTHON"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env["HOME"] = str(tmp_path / "home")
    return env


def _cheap(tmp_path: Path) -> list[tuple[str, str]]:
    """(README command, the same with its placeholders filled) for the commands that take
    seconds: help, env, report, compare. run, verify and data fetch train or download."""
    folder = tmp_path / "example"
    shutil.copytree(DATA / "example-run", folder)
    export = DATA / "hyperfine-v2" / "two-commands.json"
    fill = {"DIR": str(folder), "DIR_A": str(folder), "DIR_B": str(folder), "FILE...": str(export)}
    out = []
    for command in HARNESS:
        words = shlex.split(re.sub(r"\[[^\]]*\]", "", command))
        if len(words) < 4 or words[3] not in ("--help", "env", "report", "compare"):
            continue
        if any(w.startswith("aa/") for w in words):
            continue  # the A/A check's folders exist only after two runs
        out.append((command, shlex.join(fill.get(w, w) for w in words)))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not (VENV_BIN / "activate").is_file(), reason="tests run outside a venv")
def test_the_cheap_readme_commands_run_in_a_fresh_shell_without_a_traceback(tmp_path):
    cheap = _cheap(tmp_path)
    assert {c.split()[3] for c, _ in cheap} >= {"--help", "env", "report", "compare"}
    work = tmp_path / "cwd"
    work.mkdir()
    for command, filled in cheap:
        done = subprocess.run(
            ["bash", "-c", filled],
            cwd=work,
            env=_fresh_shell(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
        )
        said = done.stdout + done.stderr
        assert "Traceback" not in said, (command, said[-2000:])
        assert done.returncode in ((0, 1) if " env" in command else (0,)), (command, said[-2000:])
    made = list((work / "results").iterdir())  # --hyperfine-json without --out
    assert len(made) == 1 and (made[0] / "report.html").is_file()


def test_outside_the_venv_the_harness_names_the_venv_instead_of_a_traceback():
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3")
    probe = "import numpy, pandas, matplotlib, jinja2, scipy, safetensors, rich"
    if subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        pytest.skip(f"{python} has every library the harness needs")
    done = subprocess.run(
        [python, "-m", "harness", "env"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {python} lacks ") and ".venv" in line
