"""The docs cannot drift and no link leaves the repository.

Every output and file excerpt shown in the project's markdown is tied by a marker to
the command that makes it (``tests/docs_sync.py`` says how); these tests regenerate
each one and compare. After changing an output, regenerate the docs in one step:

    python -m tests.docs_sync --update
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import docs_sync  # noqa: E402
from docs_sync import (ROOT, Block, bad_links, check_text, doc_files, fences,  # noqa: E402
                       missing_md_names, normalise, parse, same)

DOCS = doc_files()


def _runs_commands(doc: Path) -> bool:
    try:
        return any(b.kind in ("output", "console", "file") for b in parse(doc.read_text()))
    except ValueError:
        return True         # a broken marker: the check below reports where


MARKED = [d for d in DOCS if _runs_commands(d)]
# What bundleopt's own output looks like: a fenced block showing one of these must be
# tied to the command that makes it (or be a marked record of a run no test can repeat).
OUTPUT_SIGNS = re.compile(
    r"^(status {2,}\S|ok: \d+ products|model: \d+ price points|error: |written {2,}|"
    r"profit over \d+ draws|\$ bundleopt |\s*\"status\": \"|solve: (optimal|feasible))", re.M)


def _rel(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def test_the_docs_are_found_and_marked() -> None:
    # Guards the tests below against passing on nothing: a renamed folder or a broken
    # glob would leave them no doc to check.
    names = {_rel(d) for d in DOCS}
    assert {"README.md", "docs/cli.md", "examples/README.md", "docs/architecture.md"} <= names
    assert {"docs/cli.md", "examples/README.md", "docs/whatif.md"} <= {_rel(d) for d in MARKED}


@pytest.mark.parametrize("doc", MARKED, ids=_rel)
def test_every_output_shown_is_what_the_code_makes(doc: Path) -> None:
    outcome = docs_sync.check_doc(doc)
    assert not outcome.drifts, (
        "\n\n".join(map(str, outcome.drifts))
        + "\n\nIf the code is right, regenerate the docs: python -m tests.docs_sync --update")


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_no_output_is_shown_untied(doc: Path) -> None:
    untied = [f"line {start + 1}: {content.splitlines()[0] if content else ''}"
              for start, content, marked in fences(doc.read_text())
              if not marked and OUTPUT_SIGNS.search(content)]
    assert not untied, ("these blocks show program output but no <!-- output/console/file/"
                        "recorded --> marker ties them to what made it: " + "; ".join(untied))


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_no_link_leaves_the_repository(doc: Path) -> None:
    assert bad_links(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_markdown_file_named_is_in_the_repository(doc: Path) -> None:
    # e.g. a contract named by its file outside the repository, which a reader of the
    # repository cannot open: the docs describe it instead.
    assert missing_md_names(doc) == []


# -- the machinery catches what it is for ---------------------------------------------

CHECK = "<!-- output: bundleopt check examples/grocery_week -->"


def _doc(*blocks: tuple[str, str]) -> str:
    return "\n\n".join(f"{marker}\n```\n{body}\n```" for marker, body in blocks) + "\n"


def test_a_wrong_number_in_a_doc_is_a_drift_and_update_fixes_it(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    # The block as the code makes it: no drift.
    made = docs_sync.check_text(_doc((CHECK, "")), doc).new_text
    assert "price points" in made
    assert check_text(made, doc).drifts == []
    # One number changed, as when the model grows and the doc is left behind.
    wrong = re.sub(r"(\d+) variables", lambda m: f"{int(m.group(1)) + 1} variables", made)
    assert wrong != made
    outcome = check_text(wrong, doc)
    assert len(outcome.drifts) == 1 and "differs" in outcome.drifts[0].message
    assert "variables" in str(outcome.drifts[0])            # the diff shows the line
    assert outcome.new_text == made                          # what --update writes


def test_update_from_the_command_line_rewrites_the_doc(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("Intro.\n\n" + _doc((CHECK, "ok: nothing")) + "\nOutro.\n")
    assert docs_sync.main([str(doc)]) == 1
    assert docs_sync.main(["--update", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("Intro.\n\n" + CHECK) and text.endswith("\nOutro.\n")
    assert "ok: 30 products" in text and docs_sync.main([str(doc)]) == 0


def test_a_failing_command_is_reported_not_compared(tmp_path: Path) -> None:
    outcome = check_text(_doc(("<!-- output: bundleopt check examples/no_such_scenario -->", "")),
                         tmp_path / "doc.md")
    assert len(outcome.drifts) == 1 and "exit status 2, expected 0" in outcome.drifts[0].message
    outcome = check_text(_doc(("<!-- output exit=2: bundleopt check examples/no_such_scenario 2>&1 -->",
                               "error: nothing")), tmp_path / "doc.md")
    assert "error: " in outcome.new_text and "no_such_scenario" in outcome.new_text


def test_file_excerpts_and_scripts_run_in_order(tmp_path: Path) -> None:
    text = _doc(("<!-- script: hello.py -->", "print(6 * 7)"),
                ("<!-- output: python hello.py > answer.txt -->", ""),
                ("<!-- file: answer.txt -->", "41"),
                ("<!-- file: examples/grocery_week/segments.csv lines=1,3 -->", ""))
    outcome = check_text(text, tmp_path / "doc.md")
    assert [d.block.kind for d in outcome.drifts] == ["file", "file"]
    assert "```\n42\n```" in outcome.new_text
    assert "segment_id,size,price_sensitivity\n...\nfamilies,1900,0.6\n..." in outcome.new_text


def test_only_durations_are_normalised() -> None:
    assert normalise("time  build 0.08s, solve 0.38s (highs)") == normalise("time  build 1.20s, solve 12.05s (highs)")
    assert normalise("objective   30,599.00") != normalise("objective   30,598.00")
    assert normalise("time limit 300s") != normalise("time limit 60s")      # a setting, not a timing


def test_json_excerpts_compare_all_but_the_keys_that_vary() -> None:
    block = Block("file", {"vary": "solve_seconds,versions"}, "summary.json", 0, 1, 3,
                  '{"status": "optimal", "objective": 30599.0, "solve_seconds": 0.2,\n'
                  ' "versions": {"highspy": "1.16.0"}}')
    assert same(block, '{"status": "optimal", "objective": 30599.0, "solve_seconds": 9.9, "versions": {}}')
    assert not same(block, '{"status": "optimal", "objective": 30598.0, "solve_seconds": 0.2, "versions": {}}')
    assert not same(block, '{"status": "feasible", "objective": 30599.0, "solve_seconds": 0.2, "versions": {}}')


def test_a_marker_without_its_block_is_an_error() -> None:
    with pytest.raises(ValueError, match="must be followed by a fenced block"):
        parse(f"{CHECK}\nno block here\n")


def test_links_that_leave_the_repository_are_caught(tmp_path: Path) -> None:
    doc = ROOT / "docs" / "cli.md"          # resolved from docs/, as the real ones are
    text = ("[spec](../../shared/spec/SERVICE.md) [abs](/etc/passwd) [file](file:///tmp/x) "
            "[gone](no_such.md) [anchor](scenario.md#no-such-heading) [ok](scenario.md#5-objective) "
            "[web](https://plotly.com/python/) [spec on the web](https://example.org/shared/spec/SERVICE.md) "
            "`[in code](../../x.md)`\n\n```\n[in a block](../../x.md)\n```\n")
    problems = bad_links(doc, text)
    assert len(problems) == 6, problems
    for target in ("../../shared/spec/SERVICE.md", "/etc/passwd", "file:///tmp/x", "no_such.md",
                   "scenario.md#no-such-heading", "https://example.org/shared/spec/SERVICE.md"):
        assert any(p.startswith(target + ":") for p in problems), target
    assert missing_md_names(doc, "as SERVICE.md says; see scenario.md and README.md") == ["SERVICE.md"]
