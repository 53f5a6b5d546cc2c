"""Every code block on every page under ``docs/`` runs, and the output it shows is what a reader gets.

(The ``>>>`` examples are doctests: ``tests/test_docs_api.py`` runs them.)

A page stays exactly what a reader should copy; what the test needs is said in reST comments
(invisible in the built pages) before a block, which apply to the next block on the page (for
a literal block: put them before the paragraph that ends in ``::``):

``.. not-run: REASON``
    the block is not executed; REASON must be one of :data:`NOT_RUN_REASONS`::

        .. not-run: downloads

``.. test-sizes: OLD -> NEW; OLD -> NEW``
    text replacements that make the block small for the test (fewer steps, episodes,
    images); every OLD must occur in the block::

        .. test-sizes: steps=3500 -> steps=2; test_episodes=600 -> test_episodes=2

``.. test-setup:`` and indented Python below it
    hidden set-up for a fragment whose names (``model``, ``loss_fn``) are the reader's own.

Each page's blocks run in order in a temporary folder of their own, where ``data`` links to
``../shared/data`` and ``HYPERFUNC_DATA`` points there:

* ``python``: executed in one namespace per page (a block may use an earlier one's names);
  local registrations a block makes are undone after it;
* ``console``: each ``$ COMMAND`` runs in bash (``hyperfunc``, ``torchrun`` and ``python``
  from this environment, one thread each); the output shown under it is compared with what it prints
  (stdout and stderr; doctest's ELLIPSIS and NORMALIZE_WHITESPACE). A command must exit 0,
  unless the output shown says ``error``: then it must fail;
* ``bash`` and literal ``::`` blocks: run as one bash script that must exit 0;
* ``toml``: parsed, and every ``hyperfunc.*`` entry-point group it names is one hyperfunc reads;
* anything else (``text``) has no runner: show a command's output as a ``console`` block, so
  that it is compared, or give a reason not to run it.

``docs/examples/*.py`` are included with ``literalinclude``; each must be run by a test.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import hyperfunc
import hyperfunc.inner
import hyperfunc.run

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DATA = ROOT.parent / "shared" / "data"

NOT_RUN_REASONS = {
    "downloads": "fetches data from the internet",
    "installs packages": "changes the Python environment",
    "needs several machines": "a multi-node launch",
    "needs a SLURM cluster": "a batch script for sbatch",
    "a benchmark": "benchmarks/ scripts; nox runs each with --quick",
    "an annotated listing": "prose in a fixed-width layout, not a command's output",
    "a failure's output": "what a crashed process prints; tests/distributed provokes it",
}
CHECKER_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
TIMEOUT = 300  # seconds for one block's commands
REGISTRY_MODULES = [
    hyperfunc.targets,
    hyperfunc.embeddings,
    hyperfunc.hypernets,
    hyperfunc.tasks,
    hyperfunc.methods,
    hyperfunc.inner,
]
ENTRY_POINT_GROUPS = {m.registry.group for m in REGISTRY_MODULES} | {hyperfunc.run.families.group}


# ------------------------------------------------------------------------------ collecting
@attrs.frozen
class Block:
    """One code block of a page, with the annotations written before it."""

    page: str
    line: int  # 1-based line of the directive or of the paragraph ending in ``::``
    language: str
    text: str
    not_run: str | None = None
    sizes: tuple[tuple[str, str], ...] = ()
    setup: str = ""

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


_PREFIX = r"^(?P<indent>\s*(?:[*-]\s+)*)"  # list-table cells: "   * - .. code-block:: python"
_CODE_BLOCK = re.compile(_PREFIX + r"\.\.\s+(?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$")
_ANNOTATION = re.compile(_PREFIX + r"\.\.\s+(?P<key>(?:not|test)-[\w-]*):(?P<rest>.*)$")
_DIRECTIVE_START = re.compile(_PREFIX + r"\.\.\s")
_KEYS = ("not-run", "test-sizes", "test-setup")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _body(lines: list[str], start: int, column: int) -> tuple[list[str], int]:
    """The lines from ``start`` indented deeper than ``column`` (blank lines included)."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > column):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end], end


def _dedent(lines: list[str]) -> str:
    return textwrap.dedent("\n".join(lines)).strip("\n") + "\n"


def _parse_sizes(rest: str, where: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in re.split(r";|\n", rest):
        if not part.strip():
            continue
        old, arrow, new = part.partition(" -> ")
        if not arrow or not old.strip():
            raise ValueError(f"{where}: test-sizes entry {part.strip()!r} is not 'OLD -> NEW'")
        pairs.append((old.strip(), new.strip()))
    return tuple(pairs)


def collect(page: str, source: str) -> list[Block]:
    """The code blocks of one page, in order, each with the annotations before it."""
    lines = source.splitlines()
    blocks: list[Block] = []
    pending: dict[str, object] = {}
    pending_line = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := _ANNOTATION.match(line):
            column = len(m["indent"])
            key, where = m["key"], f"docs/{page}:{i + 1}"
            if key not in _KEYS:
                raise ValueError(f"{where}: unknown annotation '.. {key}:' (known: {', '.join(_KEYS)})")
            if key in pending:
                raise ValueError(f"{where}: a second '.. {key}:' before the same block")
            body, i = _body(lines, i + 1, column)
            if key == "not-run":
                pending[key] = " ".join([m["rest"].strip(), *(b.strip() for b in body)]).strip()
            elif key == "test-sizes":
                pending[key] = _parse_sizes("\n".join([m["rest"], *body]), where)
            else:
                if m["rest"].strip():
                    raise ValueError(f"{where}: put test-setup's code on the indented lines below it")
                pending[key] = _dedent(body)
            pending_line = pending_line or where
            continue
        language = None
        if m := _CODE_BLOCK.match(line):
            language, column = m["lang"] or "python", len(m["indent"])
            start = i + 1
            while start < len(lines) and re.match(r"\s*:[\w-]+:", lines[start]):  # options
                start += 1
        elif line.rstrip().endswith("::") and not _DIRECTIVE_START.match(line):
            language, column, start = "literal", _indent(line), i + 1
        if language is None:
            i += 1
            continue
        body, end = _body(lines, start, column)
        text = _dedent(body)
        if language == "literal" and text.startswith(">>>"):
            language = "doctest"  # run by tests/test_docs_api.py
        if language != "doctest":
            blocks.append(
                Block(
                    page,
                    i + 1,
                    language,
                    text,
                    not_run=pending.get("not-run"),  # type: ignore[arg-type]
                    sizes=pending.get("test-sizes", ()),  # type: ignore[arg-type]
                    setup=pending.get("test-setup", ""),  # type: ignore[arg-type]
                )
            )
        elif pending:
            raise ValueError(f"{pending_line}: annotations before a doctest (test_docs_api runs those)")
        pending, pending_line = {}, ""
        i = max(end, i + 1)
    if pending:
        raise ValueError(f"{pending_line}: annotation with no code block after it")
    return blocks


def _pages() -> list[str]:
    return sorted(p.name for p in DOCS.glob("*.rst"))


def _all_blocks() -> list[Block]:
    return [b for page in _pages() for b in collect(page, (DOCS / page).read_text(encoding="utf-8"))]


BLOCKS = _all_blocks()
RUN = [b for b in BLOCKS if b.not_run is None]


# ------------------------------------------------------------------------------ running
def shrink(block: Block) -> str:
    """The block's text with its test-sizes replacements applied (each must match)."""
    text = block.text
    for old, new in block.sizes:
        assert old in text, f"docs/{block.id}: test-sizes replacement {old!r} matches nothing in the block"
        text = text.replace(old, new)
    return text


def console_commands(text: str) -> list[tuple[str, str | None]]:
    """``$ COMMAND`` lines (``\\`` continues one) and the output shown under each (None: none)."""
    out: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = [line[2:]]
            while command[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                command.append(lines[i])
            out.append(("\n".join(command), []))
        elif not out:
            raise ValueError(f"a console block starts with {line!r}, not with '$ COMMAND'")
        else:
            out[-1][1].append(line)
        i += 1
    return [
        (cmd, "\n".join(shown).strip("\n") + "\n" if any(s.strip() for s in shown) else None)
        for cmd, shown in out
    ]


def _environment() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HYPERFUNC_DATA"] = str(DATA)
    env["COLUMNS"] = "80"  # argparse wraps its help to the terminal
    env["NO_COLOR"] = "1"
    env["OMP_NUM_THREADS"] = "1"  # one thread per command: torch's threads spin on a busy machine
    return env


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
    )


_MARK = "<<<hyperfunc-docs rc=%d>>>"


def matches(shown: str, got: str) -> bool:
    """doctest's comparison, where a first or last line ``...`` may also stand for no lines."""
    checker = doctest.OutputChecker()
    wants = {shown}
    if shown.startswith("...\n"):
        wants.add(shown[4:])
    if shown.endswith("\n...\n"):
        wants |= {w[:-4] for w in wants}
    return any(w.strip() and checker.check_output(w, got, CHECKER_FLAGS) for w in wants)


def _fails(shown: str | None) -> bool:
    """Whether the output a page shows is an error (then the command must exit non-zero)."""
    return shown is not None and re.search(r"\berror\b", shown) is not None


def run_console(block: Block, text: str, cwd: Path) -> None:
    commands = console_commands(text)
    script = []
    for command, shown in commands:  # one bash: an `export` holds for the next commands
        script.append(f"{command}\nrc=$?\nprintf '\\n{_MARK}\\n' $rc")
        script.append(f"[ $rc {'-ne' if _fails(shown) else '-eq'} 0 ] || exit 0")  # stop at a surprise
    done = _bash("\n".join(script), cwd)
    parts = re.split(re.escape(_MARK).replace("%d", r"(\d+)") + r"\n", done.stdout)
    for k, (command, shown) in enumerate(commands):
        if 2 * k + 1 >= len(parts):
            raise AssertionError(f"docs/{block.id}: `{command}` did not finish:\n{done.stdout[-3000:]}")
        got, rc = parts[2 * k], int(parts[2 * k + 1])
        got = got[:-1] if got.endswith("\n") else got  # the newline before the mark
        expected = "a failure" if _fails(shown) else "0"
        assert (rc != 0) == _fails(shown), (
            f"docs/{block.id}: `{command}` exited {rc}, expected {expected}:\n{got[-3000:]}"
        )
        if shown is not None and not matches(shown, got):
            example = doctest.Example(command, shown)
            raise AssertionError(
                f"docs/{block.id}: `{command}` prints something else than the page shows:\n"
                + doctest.OutputChecker().output_difference(example, got, CHECKER_FLAGS)
            )


def run_script(block: Block, text: str, cwd: Path) -> None:
    done = _bash("set -euo pipefail\n" + text, cwd)
    assert done.returncode == 0, f"docs/{block.id}: exit status {done.returncode}:\n{done.stdout[-3000:]}"


def _registered() -> dict[str, set[str]]:
    return {m.__name__: set(m.registry.names()) for m in REGISTRY_MODULES}


def run_python(block: Block, text: str, namespace: dict[str, object]) -> None:
    before = _registered()
    try:
        if block.setup:
            exec(compile(block.setup, f"docs/{block.id} (test-setup)", "exec"), namespace)
        exec(compile(text, f"docs/{block.id}", "exec"), namespace)
    finally:  # a block's local registrations must not leak into other tests
        for module in REGISTRY_MODULES:
            for name in set(module.registry.names()) - before[module.__name__]:
                try:
                    module.registry.unregister(name)
                except hyperfunc.UnknownNameError:  # an installed plugin, not a local registration
                    pass


def run_toml(block: Block, text: str) -> None:
    tomllib = pytest.importorskip("tomllib", reason="Python 3.10 has no tomllib")
    doc = tomllib.loads(text)
    groups = doc.get("project", {}).get("entry-points", {})
    unknown = sorted(g for g in groups if g.startswith("hyperfunc") and g not in ENTRY_POINT_GROUPS)
    assert not unknown, f"docs/{block.id}: entry-point groups hyperfunc does not read: {unknown}"


@attrs.define
class Page:
    """A page's folder and namespace, and how far its blocks have run."""

    folder: Path
    namespace: dict[str, object] = attrs.field(factory=lambda: {"__name__": "__docs__"})
    done: int = 0
    failed: str | None = None


@pytest.fixture(scope="module")
def pages() -> Iterator[dict[str, Page]]:
    """Each page's state, shared by the tests of its blocks."""
    made: dict[str, Page] = {}
    yield made
    made.clear()  # the namespaces hold models and datasets


def _page(pages: dict[str, Page], name: str, tmp_path_factory: pytest.TempPathFactory) -> Page:
    if name not in pages:
        folder = tmp_path_factory.mktemp(name.removesuffix(".rst"))
        (folder / "data").symlink_to(DATA, target_is_directory=True)
        pages[name] = Page(folder)
    return pages[name]


def _execute(block: Block, page: Page) -> None:
    text = shrink(block)
    if block.language in ("python", "py", "python3"):
        run_python(block, text, page.namespace)
    elif block.language in ("console", "shell-session"):
        run_console(block, text, page.folder)
    elif block.language in ("bash", "sh", "shell", "literal"):
        run_script(block, text, page.folder)
    elif block.language == "toml":
        run_toml(block, text)
    else:
        raise AssertionError(
            f"docs/{block.id}: no runner for a {block.language!r} block; show a command's output as a "
            "console block ($ COMMAND, then its output), or mark it '.. not-run: REASON'"
        )


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_block_runs(
    block: Block,
    pages: dict[str, Page],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert DATA.is_dir(), f"the docs' data is not at {DATA}"
    page = _page(pages, block.page, tmp_path_factory)
    monkeypatch.chdir(page.folder)
    monkeypatch.setenv("HYPERFUNC_DATA", str(DATA))
    own = [b for b in RUN if b.page == block.page]
    # earlier blocks of the page first (when this one was selected alone, e.g. with -k)
    for earlier in own[page.done : own.index(block) + 1]:
        if page.failed:
            pytest.fail(f"not run: the block at docs/{page.failed} failed before it")
        try:
            _execute(earlier, page)
        except BaseException:
            page.failed = earlier.id
            raise
        finally:
            page.done = own.index(earlier) + 1


def test_every_block_not_run_says_why_with_an_allowed_reason() -> None:
    bad = [
        f"docs/{b.id}: {b.not_run!r}"
        for b in BLOCKS
        if b.not_run is not None and b.not_run not in NOT_RUN_REASONS
    ]
    assert not bad, f"reasons not in NOT_RUN_REASONS ({', '.join(NOT_RUN_REASONS)}): {bad}"
    pointless = [b.id for b in BLOCKS if b.not_run is not None and (b.sizes or b.setup)]
    assert not pointless, f"test-sizes/test-setup on blocks that are not run: {pointless}"


def test_every_code_block_directive_is_collected() -> None:
    for page in _pages():
        directives = len(re.findall(r"\.\. code-block::", (DOCS / page).read_text(encoding="utf-8")))
        collected = [b for b in BLOCKS if b.page == page and b.language != "literal"]
        assert len(collected) == directives, (
            f"docs/{page}: {directives} code blocks, {len(collected)} collected"
        )
    assert len(RUN) > 2 * (len(BLOCKS) - len(RUN)), "most blocks run"


def test_every_included_example_is_run_by_a_test() -> None:
    tests = "\n".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.rglob("*.py"))
    for example in sorted((DOCS / "examples").glob("*.py")):
        included = any(
            f"literalinclude:: examples/{example.name}" in (DOCS / p).read_text() for p in _pages()
        )
        assert included, f"docs/examples/{example.name} is on no page"
        assert f'"{example.name}"' in tests, f"no test runs docs/examples/{example.name}"


_SAMPLE = """\
Title
=====

.. not-run: downloads

Fetch it::

    hyperfunc data fetch omniglot --dest data

.. test-sizes: steps=3500 -> steps=2;
   n=5 -> n=1

.. list-table::

   * - .. code-block:: python

          x = 1
          y = x + 1

     - .. code-block:: console

          $ hyperfunc list \\
                hypernets
          hypernets (6):
            ...

>>> 1 + 1
2

.. test-setup:
   model = None

.. code-block:: toml
   :caption: pyproject

   [a]
"""


def test_output_is_compared_like_doctest_with_optional_first_and_last_lines() -> None:
    assert matches("a ... c\n", "a b  c")
    assert matches("...\nrun: x\n...\n", "notice\nrun: x\nmore\n")
    assert matches("...\nrun: x\n...\n", "run: x")
    assert not matches("...\nrun: x\n...\n", "run: y\n")


def test_the_collector_reads_blocks_and_their_annotations() -> None:
    blocks = collect("sample.rst", _SAMPLE)
    assert [(b.line, b.language) for b in blocks] == [
        (6, "literal"),
        (15, "python"),
        (20, "console"),
        (33, "toml"),
    ]
    fetch, python, console, toml = blocks
    assert fetch.not_run == "downloads" and fetch.text == "hyperfunc data fetch omniglot --dest data\n"
    assert python.sizes == (("steps=3500", "steps=2"), ("n=5", "n=1")) and python.text == "x = 1\ny = x + 1\n"
    assert console.not_run is None and console.sizes == ()
    assert console_commands(console.text) == [
        ("hyperfunc list \\\n      hypernets", "hypernets (6):\n  ...\n")
    ]
    assert toml.setup == "model = None\n" and toml.text == "[a]\n"
    with pytest.raises(ValueError, match="no code block after it"):
        collect("sample.rst", "text\n\n.. not-run: downloads\n")
    with pytest.raises(ValueError, match="unknown annotation"):
        collect("sample.rst", ".. test-size: a -> b\n\n::\n\n    x\n")
    with pytest.raises(AssertionError, match="matches nothing"):
        shrink(attrs.evolve(python, sizes=(("steps=1", "steps=2"),)))
