"""What a Python user expects of a library and a command line: a logger hierarchy that stays
silent until the application configures it, and a --help with an example for every command."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from spectral_edge.cli import build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_help_ends_with_an_example(name):
    text = _commands()[name].format_help()
    example = text.split("example:", 1)[1].strip().splitlines()
    assert example and all(line.strip().startswith("spectral-edge ") for line in example)
    assert example[0].strip().startswith(f"spectral-edge {name}")


def test_the_library_logs_through_logging_and_configures_nothing():
    code = (
        "import logging, spectral_edge, spectral_edge.monitor, spectral_edge.parallel;"
        "root = logging.getLogger();"
        "lib = logging.getLogger('spectral_edge');"
        "print(len(root.handlers), [type(h).__name__ for h in lib.handlers],"
        " spectral_edge.monitor.log.name, spectral_edge.parallel.log.name)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [
        "0",
        "['NullHandler']",
        "spectral_edge.monitor",
        "spectral_edge.parallel",
    ]


def test_the_command_line_shows_the_librarys_warnings(tmp_path):
    code = (
        "import logging, sys; from spectral_edge import open_store;"
        "from spectral_edge.cli import main; open_store(sys.argv[1]).close();"
        "logging.getLogger('spectral_edge.x').debug('hidden');"
        "main(['runs', sys.argv[1]]);"
        "logging.getLogger('spectral_edge.x').info('shown')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stderr.strip() == "spectral-edge: shown"
