"""The budget, measured: `invoke bench --limits` (bench/limits.py).

The budget (README, Limits): any manuscript under 1 MB builds, or is refused,
within 60 s and 1 GiB of memory on one core, EPUB and PDF. Each case here is one
class of costly input, made at a size `n`:

- at its largest under 1 MB (or at the limit publisher sets, when that is lower):
  built, or refused, and measured;
- when that is refused, also at the largest `n` publisher accepts (found by
  bisection with publisher's own estimate, src/publisher/pdf/cost.py, to within
  2 %): the class's worst case inside the limits, built and measured.

Each build is the `publisher` command pinned to one core (`taskset -c 0`) under
`/usr/bin/time -v`: its wall time and the largest resident set of any one process
(time's, or sampled, whichever is larger). CPU time is that of every process of
the build, helpers that outlive it included (this process is their subreaper;
time counts only those waited for); the summed PSS of the process tree is sampled
beside it (a forked helper shares its parent's pages). The machine's load average
is printed with each row: on a shared machine the wall time is the CPU time plus
the waiting, and CPU times themselves grow with the load (about 1.5 times at a
load of 5-8 on the reference machine).

A case is "ok" within 75 % of the budget (45 s, 768 MiB), "near" up to it, "OVER"
beyond. tests/test_hostile.py and tests/test_properties.py check that each class
ends in valid outputs or one clear error; time is measured only here.

    python bench/limits.py                 # every case
    python bench/limits.py table notes     # the cases whose name holds a word
    python bench/limits.py --list          # the names and sizes, nothing built
    python bench/limits.py --no-bisect     # each case at its largest only
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import _cpu_of_children, _reap_orphans, _tree, become_subreaper

ROOT = Path(__file__).resolve().parent.parent
SIZE = 1_000_000  # bytes: the largest manuscript the budget covers
BUDGET_SECONDS = 60.0
BUDGET_MIB = 1024
MARGIN = 0.75  # "ok" below this share of the budget
# A case is stopped, and reported OVER, past any of these: five times the budget's
# CPU, three times its memory (the machine is shared), or ten minutes.
STOP_CPU = 5 * BUDGET_SECONDS
STOP_MIB = 3 * BUDGET_MIB
STOP_WALL = 600.0
WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()

Files = dict[str, str | bytes]
Make = Callable[[int], Files]


@dataclass(frozen=True)
class Case:
    name: str
    make: Make  # n -> the manuscript's files
    full: int  # n at its largest under 1 MB, or at a limit publisher sets


# --- the cases ---------------------------------------------------------------------------


def _front(extra: str = "") -> str:
    lang = "" if "lang:" in extra else "lang: en\n"
    return f"---\ntitle: Limits\n{lang}{extra}---\n\n"


def _words(n: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n))


def repeated(
    name: str, unit: Callable[[int], str], head: str = "", tail: str = "", extra: str = ""
) -> Case:
    """`n` units in one file, between `head` and `tail`; at most as many as 1 MB holds."""
    front = _front(extra)

    def make(n: int) -> Files:
        return {"book.md": front + head + "".join(unit(i) for i in range(n)) + tail}

    room = SIZE - len((front + head + tail).encode()) - 1
    full, used = 0, 0
    while used + len(unit(full).encode()) <= room:
        used += len(unit(full).encode())
        full += 1
    return Case(name, make, full)


def one(name: str, body: str, extra: str = "") -> Case:
    return Case(name, lambda n: {"book.md": _front(extra) + body}, 1)


def table(name: str, columns: int, cell: Callable[[int], str], cells: int = 20_000) -> Case:
    """One table of `n` cells (header included) in `columns` columns."""
    head = "| " + " | ".join(f"h{c}" for c in range(columns)) + " |\n" + "|---" * columns + "|\n"

    def make(n: int) -> Files:
        rows = max(1, n // columns - 1)
        body = "".join(
            "| " + " | ".join(cell(r * columns + c) for c in range(columns)) + " |\n"
            for r in range(rows)
        )
        return {"book.md": _front() + "# Table\n\n" + head + body}

    return Case(name, make, cells)


def chapter_files(n: int) -> Files:
    names = [f"c{i:05d}.md" for i in range(n)]
    listing = "".join(f"  - {name}\n" for name in names)
    out: Files = {"book.yaml": f"title: Limits\nlang: en\nchapters:\n{listing}"}
    out.update({name: f"# C{i}\n\nOne line.\n" for i, name in enumerate(names)})
    return out


def png(size: tuple[int, int], colour: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG", optimize=True)
    return out.getvalue()


def images_distinct(n: int) -> Files:
    out: Files = {f"i{k}.png": png((16 + k % 50, 16), (k % 256, 90, 160)) for k in range(n)}
    out["book.md"] = _front() + "# Images\n\n" + "".join(f"![{k}](i{k}.png)\n\n" for k in range(n))
    return out


def image_repeated(size: tuple[int, int]) -> Make:
    def make(n: int) -> Files:
        refs = "".join(f"![{k}](big.png)\n\n" for k in range(n))
        return {"big.png": png(size), "book.md": _front() + "# Image\n\n" + refs}

    return make


def svg_repeated(elements: int) -> Make:
    shapes = "".join(
        f'<rect x="{k % 100}" y="{k // 100}" width="1" height="1"/>' for k in range(elements)
    )
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">{shapes}</svg>'

    def make(n: int) -> Files:
        refs = "".join(f"![{k}](d.svg)\n\n" for k in range(n))
        return {"d.svg": svg, "book.md": _front() + "# Drawing\n\n" + refs}

    return make


def yaml_at_limits(n: int) -> Files:
    keywords = "".join(f"  - keyword {k}\n" for k in range(3_000))
    front = f"---\ntitle: {'T' * 990}\nlang: en\nkeywords:\n{keywords}---\n\n"
    body = "".join(f"# {'Title ' * 160}{k}\n\nText.\n\n" for k in range(60))
    return {"book.md": front + body}


PY = (
    "def function_{n}(argument, *rest, **options):\n"
    '    """A docstring."""\n'
    "    value = [x ** 2 for x in range(argument) if x % 3]  # a comment\n"
    "    return {{'key': value, 'n': {n}}}\n\n"
)
PY_BLOCK = "".join(PY.format(n=n) for n in range(1_000))[:199_000]  # under MAX_HIGHLIGHT
NOTE_TEXT = _words(12)[:70]
LANGS = ("fr", "de", "es", "it", "nl", "pt", "ru", "pl")
RAW = "raw-html: true\n"
TOP = "# Top\n\n"


LOREM = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed"]


def _formulas(kind: str) -> Callable[[], str]:
    """A megabyte of formulas (tests/test_math.py): distinct ones (refused: T14),
    one repeated (the PDF refuses: F09), nested ones (set as TeX: T13, F07)."""

    def text() -> str:
        if kind == "distinct":
            return "".join(
                " ".join(f"$x_{{{n + k}}}$" for k in range(100)) + "\n\n"
                for n in range(0, 84_000, 100)
            )
        if kind == "repeated":
            return ("$E=mc^2$ and " * 80 + "\n\n") * 960
        return (
            ("$$" + "\\frac{1}{" * 9 + "x" + "}" * 9 + "$$\n\n") * 10
            + ("$" + "{" * 2000 + "x" + "}" * 2000 + "$\n\n") * 20
            + ("$" + "\\frac{1}{" * 30 + "x" + "}" * 30 + "$\n\n") * 300
        )

    return text


def index_marks(marks: int = 10_000, size: int = 1_000_000) -> str:
    """A book of about `size` characters in 30 chapters with `marks` index marks
    on 1,500 terms (a fifth of them sub-entries, some ranges and references)."""
    import random

    rng = random.Random(16)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe", "gu"]
    terms = sorted(
        {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(1_600)}
    )[:1_500]
    paragraphs = size // 700
    per = max(1, marks // paragraphs)
    out: list[str] = []
    made = 0
    for p in range(paragraphs):
        if p % (paragraphs // 30) == 0:
            out.append(f"# Chapter {p // (paragraphs // 30) + 1}\n")
        words = [LOREM[(p * 7 + i) % len(LOREM)] for i in range(95)]
        for k in range(per if made < marks else 0):
            term = rng.choice(terms)
            at = (k * 13 + p) % len(words)
            if made % 5 == 0:
                words[at] = f'[{term}]{{index="{term.capitalize()}!{rng.choice(terms)}"}}'
            elif made % 97 == 0:
                words[at] = (
                    f'[]{{index="{term.capitalize()}" see="{rng.choice(terms).capitalize()}"}}'
                )
            else:
                words[at] = f"[{term.capitalize()}]{{.index}}"
            made += 1
        text = " ".join(words)
        out.append(text[0].upper() + text[1:] + ".\n")
    return "\n".join(out)


CASES: list[Case] = [
    # tables (F05: 20,000 cells at most)
    table("table, 3 columns of short cells", 3, lambda k: f"c{k}"),
    table("table, 3 columns of 45-byte cells", 3, lambda k: _words(6)[:40] + str(k % 10)),
    table("table, 100 columns", 100, lambda k: str(k % 10)),
    repeated("tables of 8 cells", lambda k: "| a | b |\n|---|---|\n" + "| 1 | 2 |\n" * 3 + "\n"),
    # chapters, headings, metadata
    repeated("chapters of one line, one file", lambda k: f"# C{k}\n\nOne line.\n\n"),
    Case("chapters of one line, a file each", chapter_files, 5_000),
    repeated("level-2 headings", lambda k: f"## H{k}\n\n", head="# Top\n\n"),
    repeated("one heading", lambda k: f"{WORDS[k % len(WORDS)]} ", head="# "),
    repeated("chapters with 10 KB titles", lambda k: f"# {_words(1_600)[:9_990]} {k}\n\nText.\n\n"),
    Case("front matter at its limits", yaml_at_limits, 1),
    # blocks by the hundred thousand
    repeated("one-word paragraphs", lambda k: "x\n\n", head=TOP),
    repeated("hard line breaks", lambda k: "x\\\n", head=TOP),
    repeated("list items", lambda k: "- x\n", head=TOP),
    repeated("scene breaks", lambda k: "x\n\n***\n\n", head=TOP),
    repeated("one-line block quotes", lambda k: "> x\n\n", head=TOP),
    repeated("definition lists", lambda k: f"T{k}\n:   d\n\n", head=TOP),
    # nesting
    repeated("lists nested (1,000 deep at most)", lambda d: "  " * d + "- x\n", head=TOP),
    one("quotes nested, 1 MB", TOP + ">" * 999_000 + " deep\n"),
    one("emphasis nested, 1 MB", TOP + "*" * 499_000 + "x" + "*" * 499_000 + "\n"),
    one("links nested, 1 MB", TOP + "[" * 160_000 + "x" + "](#y)" * 160_000 + "\n"),
    # inline text
    repeated("one paragraph of words", lambda k: f"{WORDS[k % len(WORDS)]} ", head=TOP),
    one("one word of 1 MB", TOP + "a" * 999_000 + "\n"),
    repeated("words of 10 KB", lambda k: "b" * 10_000 + " ", head=TOP),
    one("one code line of 1 MB", TOP + "```\n" + "x" * 999_000 + "\n```\n"),
    repeated("Python, highlighted, in 199 KB blocks", lambda k: f"```python\n{PY_BLOCK}```\n\n"),
    one("one letter and 330,000 accents", TOP + "e" + "\u0301" * 330_000 + "\n"),
    repeated("CJK without spaces", lambda k: "漢字仮名交じり文。", head=TOP, extra="lang: ja\n"),
    repeated("alternating left-to-right and right-to-left", lambda k: "abc אבג ", head=TOP),
    repeated("emphasised letters", lambda k: "*a* ", head=TOP),
    # notes (F03: 10,000 at most)
    Case(
        "notes in one paragraph",
        lambda n: {
            "book.md": _front()
            + TOP
            + " ".join(f"w[^{i}]" for i in range(n))
            + "\n\n"
            + "".join(f"[^{i}]: {NOTE_TEXT} {i}.\n" for i in range(n))
        },
        9_999,
    ),
    repeated("calls of one note", lambda k: "w[^a] ", head=TOP, tail="\n\n[^a]: The note.\n"),
    # links, ids, attributes
    repeated("links, in and out", lambda k: "[a](#t) [b](http://x.org) ", head="# T {#t}\n\n"),
    repeated("spans with ids", lambda k: f"[w]{{#i{k} .c}} ", head=TOP),
    repeated("spans of one class and id", lambda k: "[w]{.c #x} ", head=TOP),
    repeated("spans in other languages", lambda k: f"[mot]{{lang={LANGS[k % 8]}}} ", head=TOP),
    # raw HTML
    repeated("raw HTML tags", lambda k: "<b>x</b> &amp; y ", TOP + "<p>", "</p>\n", RAW),
    repeated("raw HTML unclosed spans", lambda k: "<span>", head=TOP, extra=RAW),
    repeated("raw HTML unclosed divs", lambda k: "<div>\n\n", head=TOP, extra=RAW),
    repeated("raw HTML dropped elements", lambda k: "<video>", head=TOP, extra=RAW),
    # images
    repeated("references to one image", lambda k: "![a](i.png) ", head=TOP),
    Case("distinct images", images_distinct, 6_000),
    Case("a 60-megapixel image, shown n times", image_repeated((9_990, 6_000)), 1_000),
    Case("an SVG at its drawing budget, shown n times", svg_repeated(9_000), 1_000),
    # the scholarly apparatus (T14, F09, F10 for formulas; the index: a second layout)
    one("1 MB of distinct formulas", TOP + _formulas("distinct")()),
    one("1 MB of one formula repeated", TOP + _formulas("repeated")()),
    one("nested fractions and braces", TOP + _formulas("nested")()),
    one("10,000 index marks in 1 MB", index_marks()),
]


def _with_image(files: Files) -> Files:
    text = files.get("book.md", "")
    if isinstance(text, str) and "(i.png)" in text and "i.png" not in files:
        files["i.png"] = png((8, 8))
    return files


# --- what publisher accepts --------------------------------------------------------------


def _write(files: Files, folder: Path) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def accepted(files: Files) -> bool:
    """Whether publisher lays this manuscript's PDF out (its checks before layout
    pass: pdf/layout.check, with its own cost estimate), or refuses it."""
    sys.path.insert(0, str(ROOT / "src"))
    from publisher.errors import PublisherError
    from publisher.pdf.layout import PdfInputs, check
    from publisher.pdf.profiles import make_profile
    from publisher.render.book import render_book
    from publisher.source.manuscript import load
    from publisher.source.resources import Locator

    with tempfile.TemporaryDirectory(prefix="publisher-limits-") as scratch:
        folder = Path(scratch) / "book"
        _write(_with_image(files), folder)
        try:
            manuscript = load(folder)
            meta = manuscript.meta
            book = render_book(manuscript, Locator(manuscript.root))
            profile = make_profile(meta.profile, size=meta.page_size, margins=meta.margins)
            check(PdfInputs(book, ROOT / "styles", None, profile, None, None))
        except PublisherError:
            return False
    return True


def largest_accepted(case: Case) -> int:
    """The largest n publisher accepts, to within 2 % (bisection; n = 1 always is)."""
    low, high = 1, case.full
    while high - low > max(1, low // 50):
        middle = (low + high) // 2
        if accepted(case.make(middle)):
            low = middle
        else:
            high = middle
    return low


# --- one measured build ------------------------------------------------------------------


@dataclass
class Result:
    case: str
    n: int
    bytes: int
    exit: int | None  # None: stopped
    wall: float
    cpu: float  # every process of the build, helpers included
    cpu_waited: float  # what /usr/bin/time counts: those the build waited for
    rss_mib: int  # the largest of any one process
    pss_mib: int  # the process tree's, summed, at its peak
    load: float
    load_after: float
    pages: int | None
    error: str
    traceback: bool
    verdict: str = ""


_TIME = {
    "wall": re.compile(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)"),
    "user": re.compile(r"User time \(seconds\): ([\d.]+)"),
    "system": re.compile(r"System time \(seconds\): ([\d.]+)"),
    "rss": re.compile(r"Maximum resident set size \(kbytes\): (\d+)"),
}


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _memory(pid: int) -> tuple[int, int, float]:
    """(summed PSS of the process tree, largest RSS of any one process) in KiB, and
    the CPU seconds of the tree so far (its live processes' and those they reaped)."""
    pss = largest = ticks = 0
    for process in _tree(pid):
        try:
            with open(f"/proc/{process}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        except (OSError, ValueError, IndexError):
            pass
        rss = 0
        try:
            with open(f"/proc/{process}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss = int(line.split()[1])
        except (OSError, ValueError):
            continue
        largest = max(largest, rss)
    return pss, largest, ticks / os.sysconf("SC_CLK_TCK")


def _parse_time(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    wall = _TIME["wall"].search(text)
    if wall:
        hours, minutes, seconds = wall.groups()
        found["wall"] = (int(hours or 0) * 60 + int(minutes)) * 60 + float(seconds)
    for key in ("user", "system", "rss"):
        match = _TIME[key].search(text)
        if match:
            found[key] = float(match.group(1))
    return found


def _pages(pdf: Path) -> int | None:
    try:
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"^Pages:\s+(\d+)", info.stdout, re.M)
    return int(match.group(1)) if match else None


def run_case(name: str, n: int, files: Files, work: Path) -> Result:
    folder = work / "book"
    _write(files, folder)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    out = work / "out"
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    report = work / "time.txt"
    command = ["taskset", "-c", "0", "/usr/bin/time", "-v", "-o", str(report)]
    command += [sys.executable, "-m", "publisher.app.cli", "build", str(folder), "-o", str(out)]
    load = _load()
    cpu = _cpu_of_children()
    start = time.monotonic()
    # stderr to a file, not a pipe: a build printing megabytes of warnings would block
    # on a pipe no one reads until it ends (and look like a hang).
    stderr = (work / "stderr.txt").open("wb")
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True
    )
    stopped, peak, largest = "", 0, 0
    try:
        while proc.poll() is None:
            pss, rss, used = _memory(proc.pid)
            peak, largest = max(peak, pss), max(largest, rss)
            if used > STOP_CPU:
                stopped = f"stopped at {STOP_CPU:.0f} s of CPU"
            elif pss > STOP_MIB * 1024:
                stopped = f"stopped at {STOP_MIB} MiB"
            elif time.monotonic() - start > STOP_WALL:
                stopped = f"stopped at {STOP_WALL:.0f} s"
            if stopped:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None and not stopped:  # the bench itself was stopped
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stderr.close()
    errors = (work / "stderr.txt").read_bytes()
    seconds = time.monotonic() - start
    _reap_orphans()  # helpers that outlived the build: their CPU counts too
    tree_cpu = _cpu_of_children() - cpu
    measured = _parse_time(report.read_text()) if report.exists() and not stopped else {}
    lines = errors.decode(errors="replace").strip().splitlines()
    error_lines = [line for line in lines if ": error: " in line or line.startswith("error: ")]
    pdfs = list(out.glob("*.pdf"))
    return Result(
        case=name,
        n=n,
        bytes=size,
        exit=None if stopped else proc.returncode,
        wall=round(measured.get("wall", seconds), 1),
        cpu=round(tree_cpu, 1),
        cpu_waited=round(measured.get("user", 0.0) + measured.get("system", 0.0), 1),
        rss_mib=round(max(measured.get("rss", 0.0), largest) / 1024),
        pss_mib=round(peak / 1024),
        load=load,
        load_after=_load(),
        pages=_pages(pdfs[0]) if pdfs else None,
        error=stopped or (error_lines or lines or [""])[-1][:240],
        traceback=any("Traceback" in line for line in lines),
    )


def verdict(got: Result) -> str:
    if got.exit is None:
        return "OVER"
    if got.traceback or got.exit not in (0, 2):
        return "FAIL"
    share = max(got.cpu / BUDGET_SECONDS, max(got.rss_mib, got.pss_mib) / BUDGET_MIB)
    return "ok" if share <= MARGIN else "near" if share <= 1 else "OVER"


def _row(got: Result) -> str:
    return (
        f"{got.case[:44]:44} {got.n:>7} {got.bytes // 1000:5} {got.exit!s:>4} {got.wall:7.1f} "
        f"{got.cpu:7.1f} {got.rss_mib:5} {got.pss_mib:5} "
        f"{got.load:4.1f}-{got.load_after:<4.1f} {got.pages!s:>6}  {got.verdict}"
    )


def measure(name: str, n: int, files: Files, target: Path) -> Result:
    with tempfile.TemporaryDirectory(prefix="publisher-limits-") as scratch:
        got = run_case(name, n, _with_image(files), Path(scratch))
    got.verdict = verdict(got)
    print(_row(got), flush=True)
    if got.exit != 0:
        print(f"    {got.error}", flush=True)
    # After each case: an interrupted run keeps what it measured.
    target.parent.mkdir(exist_ok=True)
    kept = json.loads(target.read_text()) if target.exists() else {}
    kept[f"{name} (n={n})"] = asdict(got)
    target.write_text(json.dumps(kept, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return got


def main(argv: list[str]) -> None:
    words = [a for a in argv if not a.startswith("--")]
    chosen = [c for c in CASES if not words or any(w in c.name for w in words)]
    if "--list" in argv:
        for case in chosen:
            files = case.make(case.full)
            size = sum(len(c.encode() if isinstance(c, str) else c) for c in files.values())
            print(f"{case.name:48} n={case.full:>7} {size:>9,} bytes")
        return
    if not shutil.which("taskset") or not Path("/usr/bin/time").exists():
        sys.exit("limits: needs taskset (util-linux) and /usr/bin/time (the time package)")
    become_subreaper()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the build is stopped too (finally)
    target = ROOT / "build" / "limits.json"
    print(
        f"{'case':44} {'n':>7} {'KB':>5} {'exit':>4} {'wall s':>7} {'CPU s':>7} {'RSS':>5} "
        f"{'PSS':>5} {'load':>9} {'pages':>6}  verdict",
        flush=True,
    )
    for case in chosen:
        at_full = measure(case.name, case.full, case.make(case.full), target)
        if at_full.exit == 2 and case.full > 1 and "--no-bisect" not in argv:
            # Refused: the worst case publisher accepts.
            n = largest_accepted(case)
            measure(case.name, n, case.make(n), target)
    print(
        f"\nbudget: {BUDGET_SECONDS:.0f} s of CPU and {BUDGET_MIB} MiB on one core for any "
        f"manuscript under {SIZE:,} bytes; 'ok' within {MARGIN:.0%}. JSON: {target}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
