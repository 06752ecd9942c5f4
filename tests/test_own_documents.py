"""The project stands on its own documents: source files cite docs/ pages that exist (and their
sections), never the specification files a user of the package does not have."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("src", "tests", "scripts", "benchmarks")
# The specification the project was started from (THESIS.md, MEASURED.md, cited also as
# "THESIS §7"); it is not shipped: docs/thesis.md and docs/measurements.md replace it.
OUTSIDE = re.compile(r"\b(THESIS|MEASURED)(\.md\b| §| section \d)")
DOC = re.compile(r"docs/([a-z0-9_-]+\.md)(?: (§\d))?")


def _sources():
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".py", ".sh", ".md", ".toml") and path != Path(__file__).resolve():
                yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def test_no_source_file_cites_the_unshipped_specification():
    citing = {name for name, text in _sources() if OUTSIDE.search(text)}
    assert citing == set(), "cite the matching section of docs/ instead"


def test_cited_docs_and_sections_exist():
    cited = {(m[1], m[2]) for _, text in _sources() for m in DOC.finditer(text)}
    assert cited  # the sources do cite docs/
    for page, section in sorted(cited, key=str):
        path = ROOT / "docs" / page
        assert path.is_file(), f"docs/{page} is cited but does not exist"
        if section:
            assert f"## {section} " in path.read_text(encoding="utf-8"), f"docs/{page} {section}"
