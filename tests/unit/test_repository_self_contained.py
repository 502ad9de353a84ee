"""A clone is self-contained: no tracked file names a path outside the repository, and every
document, spec, fixture and section that code and docs cite exists in the repository."""

from __future__ import annotations

import re
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest

from tests.helpers.fixtures import ESPORTS_DIR, FIXTURES_DIR, POLYMARKET_DIR, fixture_path

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()

# Strings that only make sense on the machine the project was first written on: the folder
# beside the repository with the original notes, fixtures and spec, and citations into it.
FORBIDDEN = ("/work/", "../shared", "shared/fixtures", "shared/reference", "shared/seeds",
             "DESIGN §")
SEED_CITATION = re.compile(r"\bseed\s+§", re.IGNORECASE)
# Where Markdown names a repository document or fixture, it must exist.
MD_PATH = re.compile(r"(?<![\w./-])((?:docs|specs)/[\w./*-]+?\.md|tests/fixtures/[\w./*-]*)")
# "SPEC §4.2", "VENUE §3.5", "ESPORTS §6.1", "ARCHITECTURE §9", also "docs/SPEC.md §4.2".
CITATION = re.compile(
    r"\b(?:docs/)?(SPEC|VENUE|ESPORTS|ARCHITECTURE)(?:\.md)?`?\s+§(\d+(?:\.\d+)?)")
SECTION = re.compile(r"^(?:#{2,4}\s+|- \*\*)(\d+(?:\.\d+)?)[.\s]", re.MULTILINE)


@cache
def tracked_files() -> tuple[str, ...]:
    """Every file git tracks (the repository a clone gets), minus deleted-but-staged ones."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"git ls-files failed in {ROOT} ({exc}); run the tests from a git checkout")
    names = [name for name in out.decode().split("\0") if name]
    return tuple(name for name in names if (ROOT / name).is_file())


def _text(name: str) -> str | None:
    try:
        return (ROOT / name).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # binary: cannot cite anything


def _offences(text: str, forbidden: tuple[str, ...]) -> list[str]:
    found = [needle for needle in forbidden if needle in text]
    found += [match.group(0) for match in SEED_CITATION.finditer(text)]
    return found


def test_the_scanner_finds_every_kind_of_outside_reference() -> None:
    parent = f"{ROOT.parent.as_posix()}/"
    for sample in ("x /work/shared/y", "see ../shared/DESIGN.md", "shared/fixtures/esports",
                   "shared/reference/polymarket.md", "shared/seeds/000.txt", "(DESIGN §4)",
                   "the seed §14 table", "Seed\n§10.2", f"open({parent}notes)"):
        assert _offences(sample, (*FORBIDDEN, parent)), sample
    assert _offences("SPEC §14, docs/VENUE.md, tests/fixtures/esports", FORBIDDEN) == []


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    parent = f"{ROOT.parent.as_posix()}/"
    # A clone in / or in the temp dir has a parent every run dir legitimately names (/tmp/):
    # only a parent of the clone's own (a folder beside it) is a path outside the repository.
    shared_parents = {"/", f"{Path(tempfile.gettempdir()).resolve().as_posix()}/", "/tmp/"}
    forbidden = FORBIDDEN if parent in shared_parents else (*FORBIDDEN, parent)
    bad: list[str] = []
    for name in tracked_files():
        if name == THIS:
            continue  # this test has to spell out what it forbids
        text = _text(name)
        if text is not None and (found := _offences(text, forbidden)):
            bad.append(f"{name}: {sorted(set(found))}")
    assert not bad, "name something inside the repository instead:\n" + "\n".join(bad)


def test_every_document_and_fixture_path_named_in_markdown_exists() -> None:
    missing: list[str] = []
    for name in tracked_files():
        if not name.endswith(".md"):
            continue
        for match in MD_PATH.finditer(_text(name) or ""):
            path = match.group(1).rstrip(".")
            exists = any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()
            if not exists:
                missing.append(f"{name}: {path}")
    assert not missing, "these paths do not exist in the repository:\n" + "\n".join(missing)


def test_every_section_citation_points_to_an_existing_section() -> None:
    sections = {
        doc: set(SECTION.findall((ROOT / "docs" / f"{doc}.md").read_text(encoding="utf-8")))
        for doc in ("SPEC", "VENUE", "ESPORTS", "ARCHITECTURE")
    }
    dangling: list[str] = []
    checked = 0
    for name in tracked_files():
        for match in CITATION.finditer(_text(name) or ""):
            checked += 1
            doc, number = match.groups()
            if number not in sections[doc]:
                dangling.append(f"{name}: {match.group(0)!r} (docs/{doc}.md has no §{number})")
    assert checked > 50, f"only {checked} citations found: is CITATION still matching them?"
    assert not dangling, "cited sections missing from docs/:\n" + "\n".join(dangling)


def test_every_recorded_payload_has_its_provenance_in_sources_md() -> None:
    sources = (FIXTURES_DIR / "SOURCES.md").read_text(encoding="utf-8")
    files = [p for base in (POLYMARKET_DIR, ESPORTS_DIR) for p in base.rglob("*") if p.is_file()]
    assert files
    undocumented = [p.relative_to(FIXTURES_DIR).as_posix() for p in files if p.name not in sources]
    assert not undocumented, f"add these to tests/fixtures/SOURCES.md: {undocumented}"


def test_the_fixture_helper_refuses_unknown_and_outside_names_clearly() -> None:
    assert fixture_path("polymarket", "ws_messages", "book.json").is_file()
    with pytest.raises(FileNotFoundError, match=r"tests/fixtures/polymarket/nope\.json"):
        fixture_path("polymarket", "nope.json")
    with pytest.raises(ValueError, match="outside tests/fixtures"):
        fixture_path("..", "helpers", "fixtures.py")


def test_tests_reach_fixtures_only_through_the_helper() -> None:
    own_paths = re.compile(r"""["']fixtures["']|["'/]tests/fixtures""")
    helper = "tests/helpers/fixtures.py"
    offenders = [name for name in tracked_files()
                 if name.startswith("tests/") and name.endswith(".py")
                 and name not in (helper, THIS) and own_paths.search(_text(name) or "")]
    assert not offenders, f"use {helper} (polymarket/esports/replay) in: {offenders}"
