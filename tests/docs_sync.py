"""Docs that cannot drift: every output shown in the docs is regenerated from the code.

A fenced block in a markdown file is tied to what makes it by an HTML comment on the
line before it (invisible when the page is rendered):

``<!-- output: CMD -->``
    the block is CMD's stdout. ``<!-- output exit=1: CMD -->`` when CMD is meant to
    fail (the default expects exit status 0); ``2>&1`` in CMD shows its stderr too.
``<!-- console -->``
    the block's ``$ CMD`` lines are run in turn; the lines after each are its stdout.
``<!-- file: PATH [lines=1-3,7] [shorten=KEY:N,...] [vary=KEY,...] -->``
    the block is the file PATH as the commands above it in the same doc left it (or an
    input file, e.g. ``examples/grocery_week/products.csv``). ``lines`` keeps those
    lines (1-based) and writes ``...`` where lines are left out; for a ``.json`` file
    ``shorten`` keeps the first N items of a list (then ``"..."``) and ``vary`` names
    keys whose values honestly differ between runs (timings, package versions): they
    are shown but not compared.
``<!-- script: NAME -->``
    the block (e.g. a ``python`` example) is saved as NAME for later ``output``
    commands (``python NAME``) to run — so the code shown is the code that ran.
``<!-- recorded: WHAT -->``
    a run the tests cannot repeat (external data, minutes of solving), shown as a
    dated record; WHAT says which run.

The commands of one doc run in order in one temporary directory holding a link to the
repository's ``examples/``, with ``bundleopt`` and ``python`` meaning ``python -m
bundleopt`` and this interpreter, and the repository first on ``PYTHONPATH``. Compared
after normalising only what honestly varies: durations printed as ``0.07s`` and the
temporary directory's path.

    python -m tests.docs_sync             # check every doc; exit status 1 on a drift
    python -m tests.docs_sync --update    # rewrite the blocks that drifted

(``tests/test_docs.py`` runs the check.)
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The markdown files of the project (the docs, the READMEs); generated benchmark
#: result pages are included for the link check.
DOC_GLOBS = ("README.md", "docs/*.md", "examples/**/*.md", "demand/**/*.md",
             "benchmarks/**/*.md", "formulations/**/*.md", "solver/**/*.md",
             "bundleopt/**/*.md")

MARKER = re.compile(r"^<!--\s*(output|console|file|script|recorded)\b([^:]*?)(?::\s*(.*?))?\s*-->\s*$")
FENCE = re.compile(r"^(```+|~~~+)(.*)$")
#: Durations as the CLI prints them ("0.38s", "build 0.08s"): the only numbers that vary
#: from run to run in the outputs shown. Whole seconds ("300s", a time limit) are kept.
DURATION = re.compile(r"(?<![\w.])\d+\.\d+s\b")
COMMAND_TIMEOUT = 300


def doc_files(root: Path = ROOT) -> list[Path]:
    """Every project markdown file, sorted."""
    out: set[Path] = set()
    for pattern in DOC_GLOBS:
        out.update(p for p in root.glob(pattern) if p.is_file())
    return sorted(out)


@dataclass
class Block:
    """One marked fenced block of a doc."""
    kind: str                 # output | console | file | script | recorded
    opts: dict[str, str]      # key=value words of the marker
    arg: str                  # the command, path or name after the colon
    marker_line: int          # 0-based line of the marker
    start: int                # 0-based line of the opening fence
    end: int                  # 0-based line of the closing fence
    text: str                 # the block's content, without the fences

    @property
    def where(self) -> str:
        return f"line {self.marker_line + 1}"


@dataclass
class Drift:
    """A block whose content is not what its command makes."""
    doc: Path
    block: Block
    message: str
    expected: str = ""        # what the code makes now

    def __str__(self) -> str:
        head = f"{self.doc}:{self.block.marker_line + 1}: {self.block.kind} {self.block.arg!r}: {self.message}"
        if not self.expected:
            return head
        diff = difflib.unified_diff(self.block.text.splitlines(), self.expected.splitlines(),
                                    "in the doc", "made by the code", lineterm="", n=1)
        return head + "\n" + "\n".join(diff)


@dataclass
class Outcome:
    """What checking one doc found."""
    doc: Path
    blocks: list[Block] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)
    new_text: str = ""        # the doc with every drifted block regenerated


def parse(text: str) -> list[Block]:
    """The marked blocks of a markdown text; a marker not followed by a fence is an error."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i].strip())
        if not m:
            i += 1
            continue
        kind, words, arg = m.group(1), m.group(2).split(), (m.group(3) or "").strip()
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        fence = FENCE.match(lines[j]) if j < len(lines) else None
        if not fence:
            raise ValueError(f"line {i + 1}: a <!-- {kind} --> marker must be followed by a fenced block")
        k = j + 1
        while k < len(lines) and not lines[k].startswith(fence.group(1)):
            k += 1
        if k == len(lines):
            raise ValueError(f"line {j + 1}: fenced block never closed")
        opts = dict(w.split("=", 1) for w in words if "=" in w)
        if kind == "file":
            path, *rest = arg.split()
            opts.update(w.split("=", 1) for w in rest if "=" in w)
            arg = path
        blocks.append(Block(kind, opts, arg, i, j, k, "\n".join(lines[j + 1:k])))
        i = k + 1
    return blocks


def fences(text: str) -> list[tuple[int, str, bool]]:
    """Every fenced block of a markdown text: (0-based line of its opening fence, its
    content, whether a marker ties it to what made it)."""
    lines = text.split("\n")
    marked = {b.start for b in parse(text)}
    out, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        k = i + 1
        while k < len(lines) and not lines[k].startswith(fence.group(1)):
            k += 1
        out.append((i, "\n".join(lines[i + 1:k]), i in marked))
        i = k + 1
    return out


def normalise(text: str) -> str:
    """What is compared: durations masked, trailing blanks dropped."""
    text = DURATION.sub("<t>s", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


class Workspace:
    """The temporary directory one doc's commands run in."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root, self.dir = root, tmp
        (tmp / "examples").symlink_to(root / "examples", target_is_directory=True)
        bin_dir = tmp / ".bin"
        bin_dir.mkdir()
        # `bundleopt` and `python` as the docs write them: this interpreter, this checkout.
        for name, line in (("bundleopt", f'exec {shlex.quote(sys.executable)} -m bundleopt "$@"'),
                           ("python", f'exec {shlex.quote(sys.executable)} "$@"')):
            shim = bin_dir / name
            shim.write_text(f"#!/bin/sh\n{line}\n")
            shim.chmod(0o755)
        self.env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                        PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
                        PYTHONHASHSEED="0", TZ="UTC", LC_ALL="C.UTF-8", COLUMNS="100",
                        NO_COLOR="1")

    def run(self, command: str) -> tuple[int, str, str]:
        """Run one shell command; its exit status, stdout and stderr (paths made relative)."""
        p = subprocess.run(["bash", "-c", command], cwd=self.dir, env=self.env, text=True,
                           capture_output=True, timeout=COMMAND_TIMEOUT)
        return p.returncode, self.relative(p.stdout), self.relative(p.stderr)

    def relative(self, text: str) -> str:
        for d in {str(self.dir), os.path.realpath(self.dir)}:
            text = text.replace(d + os.sep, "").replace(d, ".")
        return text


# -- links -------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
AUTOLINK = re.compile(r"<((?:https?|file|ftp)://[^>\s]+)>")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
INLINE_CODE = re.compile(r"`+[^`\n]*`+")
#: Where a citation may point: third-party work (a library, a paper, a data set) on the
#: web. Never the product's own contracts: those are described in docs/, not linked.
CITATION = re.compile(r"^https?://[^/\s]+/")
CONTRACT_NAMES = re.compile(r"shared/|(?:^|/)(?:SCENARIO|SERVICE|DATA)\.md")


def prose(text: str, code: bool = False) -> str:
    """The text a reader reads as prose: fenced blocks blanked, inline code removed
    (kept with ``code``)."""
    lines = text.split("\n")
    for start, content, _ in fences(text):
        for n in range(start, start + content.count("\n") + 3):
            if n < len(lines):
                lines[n] = ""
    text = "\n".join(lines)
    return text if code else INLINE_CODE.sub("", text)


def anchors(doc: Path) -> set[str]:
    """GitHub's anchors of a markdown file's headings."""
    out = set()
    for line in prose(doc.read_text(), code=True).split("\n"):
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def bad_links(doc: Path, text: str | None = None, root: Path = ROOT) -> list[str]:
    """Why each link of a markdown file leaves the repository or leads nowhere: a
    relative link must name a file (and heading) inside ``root``; an absolute path, a
    ``file:`` URL or a link to the product's contracts outside the repository fails; an
    ``http(s)`` URL is allowed as a citation of third-party work."""
    text = doc.read_text() if text is None else text
    body = prose(text)
    targets = LINK.findall(body) + AUTOLINK.findall(body) + REFERENCE.findall(body)
    problems = []
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            if not CITATION.match(target) or CONTRACT_NAMES.search(target):
                problems.append(f"{target}: only http(s) citations of third-party work may leave the repository")
            continue
        path, _, anchor = target.partition("#")
        if path.startswith("/"):
            problems.append(f"{target}: an absolute path; link relative to {doc.name}")
            continue
        dest = (doc.parent / path).resolve() if path else doc.resolve()
        if not dest.is_relative_to(root.resolve()):
            problems.append(f"{target}: outside the repository")
        elif not dest.exists():
            problems.append(f"{target}: no such file in the repository")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: {dest.name} has no heading #{anchor}")
    return problems


MD_NAME = re.compile(r"(?<![\w./-])([\w./-]*\w\.md)\b")


def missing_md_names(doc: Path, text: str | None = None, root: Path = ROOT) -> list[str]:
    """Markdown files a doc names (in prose or code) that the repository does not hold,
    such as a contract kept outside it."""
    text = doc.read_text() if text is None else text
    names = {p.name for p in root.rglob("*.md") if ".git" not in p.parts}
    out = []
    for name in sorted(set(MD_NAME.findall(text))):
        if "/" in name:
            if not ((doc.parent / name).exists() or (root / name).exists()):
                out.append(name)
        elif name not in names:
            out.append(name)
    return out


# -- what each kind of block is made of --------------------------------------------

def _run_output(ws: Workspace, block: Block) -> tuple[str, str]:
    """(made text, error): CMD's stdout, or an error when its exit status is not the one expected."""
    want = int(block.opts.get("exit", "0"))
    code, out, err = ws.run(block.arg)
    if code != want:
        return out, f"exit status {code}, expected {want}; stderr:\n{err.strip()}"
    return out.rstrip("\n"), ""


def _run_console(ws: Workspace, block: Block) -> tuple[str, str]:
    commands = [line[2:] for line in block.text.split("\n") if line.startswith("$ ")]
    if not commands:
        return "", "a console block needs at least one `$ CMD` line"
    parts = []
    for command in commands:
        code, out, err = ws.run(command)
        if code != 0:
            return "", f"`{command}` exited with {code}; stderr:\n{err.strip()}"
        parts.append(f"$ {command}\n{out.rstrip()}".rstrip())
    return "\n\n".join(parts), ""


def select_lines(text: str, spec: str) -> str:
    """The lines named by ``spec`` ("1-3,7", 1-based), with ``...`` where lines are left out."""
    lines = text.rstrip("\n").split("\n")
    keep: list[int] = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        keep.extend(range(int(a), int(b or a) + 1))
    out, last = [], 0
    for n in keep:
        if n > len(lines):
            raise ValueError(f"line {n} asked for, the file has {len(lines)}")
        if n != last + 1:
            out.append("...")
        out.append(lines[n - 1])
        last = n
    if last < len(lines):
        out.append("...")
    return "\n".join(out)


def shorten(obj: dict, spec: str) -> dict:
    """``obj`` with each named list cut to its first N items, then ``"..."``."""
    obj = dict(obj)
    for part in filter(None, spec.split(",")):
        key, _, n = part.partition(":")
        if isinstance(obj.get(key), list) and len(obj[key]) > int(n):
            obj[key] = obj[key][: int(n)] + ["..."]
    return obj


def mask(obj: object, keys: set[str]) -> object:
    """``obj`` with the values of ``keys`` (at any depth) replaced: what is not compared."""
    if isinstance(obj, dict):
        return {k: "<varies>" if k in keys else mask(v, keys) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask(v, keys) for v in obj]
    return obj


def dump_json(obj: object, indent: int = 0, col: int = 0, width: int = 100) -> str:
    """JSON as the docs show it: the top level one key a line; below it a value on one
    line when it fits, else its scalar items packed into lines of ``width`` (aligned
    under the first), else one item a line. ``indent`` is the line's indentation,
    ``col`` the column the value starts at."""
    flat = json.dumps(obj, ensure_ascii=False)
    if indent and col + len(flat) <= width or not isinstance(obj, (dict, list)) or not obj:
        return flat
    is_dict = isinstance(obj, dict)
    opening, closing = ("{", "}") if is_dict else ("[", "]")
    values = list(obj.values()) if is_dict else obj
    keys = [json.dumps(k, ensure_ascii=False) + ": " for k in obj] if is_dict else [""] * len(obj)
    if indent and all(not isinstance(v, (dict, list)) for v in values):
        lines, line = [], ""
        for k, v in zip(keys, values):
            item = k + json.dumps(v, ensure_ascii=False)
            if line and col + 1 + len(line) + len(item) + 3 > width:
                lines.append(line + ",")
                line = ""
            line = f"{line}, {item}" if line else item
        return opening + ("\n" + " " * (col + 1)).join(lines + [line]) + closing
    inner = indent + 2
    items = [" " * inner + k + dump_json(v, inner, inner + len(k), width) for k, v in zip(keys, values)]
    return opening + "\n" + ",\n".join(items) + "\n" + " " * indent + closing


def _read_file(ws: Workspace, block: Block) -> tuple[str, str]:
    path = ws.dir / block.arg
    if not path.is_file():
        return "", f"no file {block.arg} (is the command that writes it marked above the block?)"
    text = path.read_text()
    if path.suffix == ".json" and ({"shorten", "vary"} & block.opts.keys()):
        return dump_json(shorten(json.loads(text), block.opts.get("shorten", ""))), ""
    if "lines" in block.opts:
        return select_lines(text, block.opts["lines"]), ""
    return text.rstrip("\n"), ""


def same(block: Block, made: str) -> bool:
    """Whether the doc's block says what the code made, up to what honestly varies."""
    if block.kind == "file" and block.arg.endswith(".json") and "vary" in block.opts:
        keys = set(block.opts["vary"].split(","))
        try:
            shown = json.loads(block.text)
        except json.JSONDecodeError:
            return False
        return mask(shown, keys) == mask(json.loads(made), keys)
    return normalise(block.text) == normalise(made)


def check_text(text: str, doc: Path, root: Path = ROOT) -> Outcome:
    """Regenerate every marked block of one markdown text and compare."""
    outcome = Outcome(doc)
    outcome.blocks = parse(text)
    lines = text.split("\n")
    replacements: list[tuple[Block, str]] = []
    if not any(b.kind in ("output", "console", "file") for b in outcome.blocks):
        outcome.new_text = text
        return outcome
    with tempfile.TemporaryDirectory(prefix="docs_sync_") as tmp:
        ws = Workspace(root, Path(tmp))
        for block in outcome.blocks:
            if block.kind == "recorded":
                continue
            if block.kind == "script":
                (ws.dir / block.arg).write_text(block.text + "\n")
                continue
            made, error = {"output": _run_output, "console": _run_console,
                           "file": _read_file}[block.kind](ws, block)
            if error:
                outcome.drifts.append(Drift(doc, block, error))
            elif not same(block, made):
                outcome.drifts.append(Drift(doc, block, "differs from what the code makes", made))
                replacements.append((block, made))
    for block, made in reversed(replacements):      # from the bottom: line numbers hold
        lines[block.start + 1:block.end] = made.split("\n")
    outcome.new_text = "\n".join(lines)
    return outcome


def check_doc(doc: Path, root: Path = ROOT) -> Outcome:
    return check_text(doc.read_text(), doc, root)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.docs_sync", description=__doc__.split("\n")[0])
    ap.add_argument("--update", action="store_true", help="rewrite the blocks that drifted")
    ap.add_argument("docs", nargs="*", type=Path, help="markdown files (default: all of the project's)")
    args = ap.parse_args(argv)
    docs = [d.resolve() for d in args.docs] or doc_files()
    status = 0
    for doc in docs:
        outcome = check_doc(doc)
        rel = doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc
        for drift in outcome.drifts:
            print(drift, file=sys.stderr)
        errors = [d for d in outcome.drifts if not d.expected]
        if args.update and outcome.new_text != doc.read_text():
            doc.write_text(outcome.new_text)
            print(f"updated {rel}")
        if errors or (outcome.drifts and not args.update):
            status = 1
        elif outcome.blocks:
            print(f"ok {rel}: {len(outcome.blocks)} marked blocks")
    return status


if __name__ == "__main__":
    sys.exit(main())
