"""Shared fixtures: the `reallm` command line to compare with, run in a temporary folder.

The CLI is the binary named by ``REALLM_BIN`` (``.ci/run`` sets it to the one ``cargo test``
built), else ``python -m reallm`` (the host library's own entry point, in a new process).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "system"


def cli_command() -> List[str]:
    exe = os.environ.get("REALLM_BIN")
    if exe:
        return [exe]
    return [sys.executable, "-m", "reallm"]


class Cli:
    """Runs the CLI in a fresh folder (its working directory and workspace)."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    def start(self, *args: str) -> subprocess.Popen:
        """Start a command (finish it with :meth:`wait`)."""
        env = dict(os.environ)
        env.pop("RUST_LOG", None)
        return subprocess.Popen(
            cli_command() + list(args), cwd=self.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def wait(self, p: subprocess.Popen, check: bool = True) -> subprocess.CompletedProcess:
        out, err = p.communicate(timeout=600)
        done = subprocess.CompletedProcess(p.args, p.returncode, out, err)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, p.args))} exited {p.returncode}:\n{out}\n{err}")
        return done

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.wait(self.start(*args), check=check)

    def results_dir(self) -> Path:
        """The one results folder (with summary.json) the CLI wrote under its workspace."""
        found = glob.glob(str(self.cwd / "**" / "summary.json"), recursive=True)
        assert len(found) == 1, found
        return Path(found[0]).parent

    def summary(self) -> Dict[str, Any]:
        return json.loads((self.results_dir() / "summary.json").read_text())

    def error(self, *args: str) -> tuple:
        """(exit code, message) of a failing command: the message is stderr's `error: ...`."""
        p = self.run(*args, check=False)
        assert p.returncode != 0, p.stdout
        lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error: ")]
        assert lines, p.stderr
        return p.returncode, lines[-1][len("error: "):]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    d = tmp_path / "cli"
    d.mkdir()
    return Cli(d)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from an empty folder (relative trace paths resolve there)."""
    d = tmp_path / "py"
    d.mkdir()
    monkeypatch.chdir(d)
    return d
