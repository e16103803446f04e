"""How long the hostile limit cases take, against their budget: `invoke bench --limits`.

tests/test_hostile.py proves that each of these manuscripts ends in valid outputs
or one clear error, never a hang (a build is killed after 300 s there). How long
each takes, and how much memory, depends on the machine: that is measured here,
each case once, on a quiet machine, with the CPU time of every process of the
build and its peak memory (summed PSS), and printed against a budget of 60 s a case. Cases
over budget are reported, not failed: they are the known limits (README)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import _cpu_of_children, _memory_kb, _reap_orphans, become_subreaper

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 60.0  # seconds a case may take on the reference machine (2 cores)
KILL = 900.0
LOREM = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed"]


def _paragraph() -> str:
    return " ".join(LOREM[i % len(LOREM)] for i in range(900_000))[:5_000_000]


def _notes() -> str:
    n = 100_000
    return (
        " ".join(f"w[^{i}]" for i in range(n))
        + "\n\n"
        + "".join(f"[^{i}]: Note {i}.\n" for i in range(n))
    )


def _lines() -> str:
    lines = []
    for n in range(1_000_000):
        if n % 10_000 == 0:
            lines.append(f"## Part {n // 10_000}")
        else:
            lines.append("" if n % 5 == 0 else f"Line {n} of the manuscript.")
    return "\n".join(lines)


def _lists() -> str:
    return "".join("  " * depth + "- x\n" for depth in range(1000))


def _raw_html() -> str:
    return "<p>" + "<b>x</b> &amp; y " * 100_000 + "</p>"


def _repeats(kind: str, n: int = 20_000) -> Callable[[], str]:
    """n of one thing (tests/test_hostile.py's `repeats`): each was a scan per repeat."""

    def text() -> str:
        if kind == "headings":
            return "".join("# Same\n\nText.\n\n## Same\n\n" for _ in range(n // 2))
        if kind == "attributes":
            return "# Top\n\n" + "".join("[w]{.c #x} " for _ in range(n)) + "\n"
        if kind == "footnotes":
            calls = "".join(f"[^{i}]: Note {i} calls the next.[^{i + 1}]\n" for i in range(n))
            return f"# Top\n\nThe first call.[^0]\n\n{calls}[^{n}]: The last.\n"
        return "# Top {#t}\n\n" + "".join("[a](#t) [b](http://x.org) " for _ in range(n // 2))

    return text


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


# (name, what is built, text of the manuscript's body, extra front matter)
CASES: list[tuple[str, str, Callable[[], str], str]] = [
    ("lists nested 1000 deep", "build", _lists, ""),
    ("block quotes 1000 deep", "build", lambda: ">" * 1000 + " deep\n", ""),
    ("links nested 5000 deep", "build", lambda: "[" * 5000 + "x" + "](#y)" * 5000, ""),
    ("emphasis 5000 deep", "build", lambda: "*" * 5000 + "x" + "*" * 5000, ""),
    ("one 5 MB paragraph, EPUB", "epub", _paragraph, ""),
    ("one 5 MB paragraph, EPUB + PDF", "build", _paragraph, ""),
    ("100,000 footnotes, EPUB", "epub", _notes, ""),
    ("1,000,000 lines, EPUB", "epub", _lines, ""),
    ("1.6 MB of raw HTML, EPUB", "epub", _raw_html, "raw-html: true\n"),
    ("20,000 headings of one title, EPUB", "epub", _repeats("headings"), ""),
    ("20,000 spans of one class and id, EPUB", "epub", _repeats("attributes"), ""),
    ("20,000 notes, each calling the next, EPUB", "epub", _repeats("footnotes"), ""),
    ("20,000 links, EPUB", "epub", _repeats("links"), ""),
    ("1 MB of distinct formulas", "build", _formulas("distinct"), ""),
    ("1 MB of one formula repeated", "build", _formulas("repeated"), ""),
    ("nested fractions and braces", "build", _formulas("nested"), ""),
    ("10,000 index marks in 1 MB, EPUB + PDF", "build", index_marks, ""),
]


def run_case(task: str, body: str, extra: str, work: Path) -> dict[str, str | float | None]:
    """One build: its wall time, the CPU time of every process of it (helpers
    included: bench.become_subreaper) and its peak summed PSS, sampled."""
    book = work / "book"
    book.mkdir(parents=True)
    (book / "book.md").write_text(
        f"---\ntitle: Limits\nlang: en\n{extra}---\n\n{body}\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    command = [sys.executable, "-m", "invoke", "-r", str(ROOT), task]
    command += ["--manuscript", str(book), "--output", str(work / "out")]
    cpu = _cpu_of_children()
    start = time.monotonic()
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    killed, peak = False, 0
    while proc.poll() is None:
        peak = max(peak, _memory_kb(proc.pid)[0])
        if time.monotonic() - start > KILL:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    _, errors = proc.communicate()
    seconds = time.monotonic() - start
    _reap_orphans()
    return {
        "exit": None if killed else proc.returncode,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(_cpu_of_children() - cpu, 1),
        "peak_MiB": round(peak / 1024),
        "last_line": (errors.decode(errors="replace").strip().splitlines() or [""])[-1][:160],
    }


def main() -> None:
    become_subreaper()
    results = {}
    for name, task, body, extra in CASES:
        with tempfile.TemporaryDirectory(prefix="publisher-limits-") as scratch:
            results[name] = got = run_case(task, body(), extra, Path(scratch))
        seconds = got["seconds"]
        over = got["exit"] is None or not isinstance(seconds, float) or seconds > BUDGET
        verdict = "OVER" if over else "ok"
        print(
            f"{name:34} {got['seconds']:7.1f} s  cpu {got['cpu_seconds']:7.1f} s  "
            f"{got['peak_MiB']:5} MiB  exit {got['exit']}  {verdict}",
            flush=True,
        )
    target = ROOT / "build" / "limits.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nbudget {BUDGET:.0f} s a case; JSON: {target}")


if __name__ == "__main__":
    main()
