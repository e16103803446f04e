"""publisher against Pandoc, side by side: `invoke bench`.

Builds the article and a generated book of about 300 pages (40 chapters with
sections, notes and a table), alternating publisher and Pandoc (EPUB, then PDF
with --pdf-engine=weasyprint, from the same Markdown), several times each, every
publisher build into an empty output folder (nothing cached); a labelled extra row
builds publisher's PDF on A4, as Pandoc's is. Wall
time and peak memory (the proportional set size, PSS, of every process in the tree,
summed, sampled every 10 ms in runs of their own, since sampling slows the
processes; the summed RSS is in the JSON too) are medians over the
runs. Prints a table and writes JSON."""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = tuple(
    "the of and to in was he she it that his her with as for had on at by not but be from "
    "they all were this said one there which we their an my so when who out into up what "
    "them more like no could then some would time about been has than its only other over"
    .split()
)  # fmt: skip


def generate_book(path: Path, chapters: int = 40) -> Path:
    rng = random.Random(300)
    out = ["---", "title: A Generated Book", "author: Bench Mark", "lang: en", "---", ""]
    note = 0
    for c in range(1, chapters + 1):
        out.append(f"# Chapter {c}\n")
        for s in range(1, 4):
            out.append(f"## Section {c}.{s}\n")
            for _ in range(5):
                words = [rng.choice(WORDS) for _ in range(rng.randint(70, 110))]
                text = " ".join(words).capitalize() + "."
                if rng.random() < 0.3:
                    note += 1
                    text += f"[^n{note}]\n\n[^n{note}]: A note, number {note}, on this passage."
                out.append(text + "\n")
        out.append("| Item | Count | Share |\n|:--|--:|--:|")
        out += [f"| row {r} | {r * 7} | {r * 3}% |" for r in range(1, 6)]
        out.append("")
    path.write_text("\n".join(out), encoding="utf-8")
    return path


def _tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack += children.get(current, [])
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(proportional, resident) memory of a process tree, in KiB. Proportional
    (PSS) shares each page among the processes that map it: a forked child's pages
    are still its parent's until written, and summing resident sizes (RSS) would
    count them once per process."""
    pss = rss = 0
    for process in _tree(pid):
        try:
            with open(f"/proc/{process}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return pss, rss


def become_subreaper() -> None:
    """Processes orphaned below this one (a build's helper that exits after its
    parent) are reparented here instead of to init, so that reaping them adds
    their CPU time to this process's RUSAGE_CHILDREN: the CPU of every process of
    a build is counted, not only of those its parent waited for (Linux)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_orphans() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu: float  # CPU seconds of every process of the run, helpers included
    pss_kb: int  # peak summed PSS (0 unless sampled)
    rss_kb: int


def measure(
    commands: list[list[str]], cwd: Path, sample: bool, *, at_once: bool = False
) -> Measured:
    """Commands run one after the other, or all `at_once`; their memory only if
    `sample` (reading page tables slows them: time is measured in other runs)."""
    start, cpu = time.perf_counter(), _cpu_of_children()
    peak_pss = peak_rss = 0
    batches = [commands] if at_once else [[command] for command in commands]
    for batch in batches:
        procs = [
            subprocess.Popen(
                command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            for command in batch
        ]
        if sample:
            while any(proc.poll() is None for proc in procs):
                sizes = [_memory_kb(proc.pid) for proc in procs]
                peak_pss = max(peak_pss, sum(pss for pss, _ in sizes))
                peak_rss = max(peak_rss, sum(rss for _, rss in sizes))
                time.sleep(0.01)
        for command, proc in zip(batch, procs, strict=True):
            _, errors = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(command)} failed: {errors[-500:]}")
    seconds = time.perf_counter() - start
    _reap_orphans()
    return Measured(seconds, _cpu_of_children() - cpu, peak_pss, peak_rss)


A4 = ("--profile", "screen")


def sides(manuscript: Path, work: Path, pandoc: str) -> dict[str, list[list[str]]]:
    """Each side's commands; publisher's sides write into work/<side>/."""
    invoke = [sys.executable, "-m", "invoke", "-r", str(ROOT)]
    source = ["--manuscript", str(manuscript)]
    return {
        "publisher": [[*invoke, "build", *source, "--output", str(work / "publisher")]],
        "publisher-epub": [[*invoke, "epub", *source, "--output", str(work / "publisher-epub")]],
        # Not the default: A4 pages (the `screen` profile), as Pandoc's are, to tell
        # the page count's share of the difference from the tools'.
        "publisher-a4": [[*invoke, "build", *source, "--output", str(work / "publisher-a4"), *A4]],
        "pandoc": [
            [pandoc, str(manuscript), "-o", str(work / "p.epub")],
            [pandoc, str(manuscript), "-o", str(work / "p.pdf"), "--pdf-engine=weasyprint"],
        ],
        "pandoc-epub": [[pandoc, str(manuscript), "-o", str(work / "p.epub")]],
        # Pandoc's two commands at once, on two cores: what a user with a script
        # gets, and the fair match for publisher's forked PDF child.
        "pandoc-at-once": [
            [pandoc, str(manuscript), "-o", str(work / "q.epub")],
            [pandoc, str(manuscript), "-o", str(work / "q.pdf"), "--pdf-engine=weasyprint"],
        ],
    }


def bench(runs: int = 3) -> dict[str, object]:
    try:
        import pypandoc
    except ImportError:
        raise SystemExit(
            'bench needs Pandoc: pip install -c constraints.txt -e ".[bench]"'
        ) from None
    pandoc = pypandoc.get_pandoc_path()
    # Pandoc runs the `weasyprint` command: this environment's, also when it is not
    # activated (.venv/bin/invoke bench).
    scripts = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])
    if shutil.which("weasyprint") is None:
        raise SystemExit("bench needs the weasyprint command for Pandoc's PDF")
    become_subreaper()
    results: dict[str, object] = {"runs": runs, "machine": _machine()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        books = {
            "article": ROOT / "manuscript" / "article.md",
            "book": generate_book(work / "book.md"),
        }
        for name, manuscript in books.items():
            commands = sides(manuscript, work, pandoc)
            samples: dict[str, list[Measured]] = {side: [] for side in commands}
            memory: dict[str, list[Measured]] = {side: [] for side in commands}
            for _ in range(runs):  # alternating, so that load affects both alike
                for side, command in commands.items():
                    at_once = side.endswith("-at-once")
                    shutil.rmtree(work / side, ignore_errors=True)  # every build from scratch
                    samples[side].append(measure(command, work, False, at_once=at_once))
                    # Memory in a run of its own: reading the processes' page tables
                    # every 10 ms slows them (the side with more processes most).
                    shutil.rmtree(work / side, ignore_errors=True)
                    memory[side].append(measure(command, work, True, at_once=at_once))
            entry: dict[str, object] = {}
            for side, values in samples.items():
                entry[side] = {
                    "seconds": round(statistics.median(v.seconds for v in values), 3),
                    "cpu_seconds": round(statistics.median(v.cpu for v in values), 3),
                    "peak_mib": round(statistics.median(v.pss_kb for v in memory[side]) / 1024, 1),
                    "peak_rss_sum_mib": round(
                        statistics.median(v.rss_kb for v in memory[side]) / 1024, 1
                    ),
                }
            entry["pages"] = _pages(next((work / "publisher").glob("*.pdf")))
            entry["pages_a4"] = _pages(next((work / "publisher-a4").glob("*.pdf")))
            entry["pandoc_pages"] = _pages(work / "p.pdf")
            results[name] = entry
    results["loop"] = loop_timings(runs)
    return results


def loop_timings(runs: int) -> dict[str, float]:
    """The author's loop on the article: a no-op `invoke build` (nothing changed) as a
    fresh process, and a warm rebuild in one process that keeps WeasyPrint loaded,
    as `watch` does."""
    import statistics

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        book = work / "article"
        shutil.copytree(ROOT / "manuscript", book)
        out = work / "out"
        invoke = [
            sys.executable,
            "-m",
            "invoke",
            "-r",
            str(ROOT),
            "build",
            "--manuscript",
            str(book),
            "--output",
            str(out),
        ]
        subprocess.run(invoke, check=True, capture_output=True)
        noop = [measure([invoke], work, sample=False).seconds for _ in range(runs)]
        sys.path.insert(0, str(ROOT / "src"))
        from publisher.build import build
        from publisher.model import BuildOptions
        from publisher.pdf.weasyprint.load import load_weasyprint

        options = BuildOptions(book, out, ROOT / "styles")
        load_weasyprint()  # as `watch` does before its first build
        build(options, force=True)
        chapter = book / "article.md"
        warm = []
        for n in range(runs):
            chapter.write_text(chapter.read_text(encoding="utf-8") + f"\nEdit {n}.\n")
            start = time.perf_counter()
            build(options)
            warm.append(time.perf_counter() - start)
    return {
        "noop_build_seconds": round(statistics.median(noop), 3),
        "warm_rebuild_seconds": round(statistics.median(warm), 3),
    }


def _pages(pdf: Path) -> int | None:
    done = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    return None


def _machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # Set here: each cold run then compiles publisher's modules (~0.1 s) that an
    # installed package would have as .pyc files.
    pyc = ", PYTHONDONTWRITEBYTECODE set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}{pyc}; load {load}"


def report(results: dict[str, object]) -> str:
    lines = [
        f"machine: {results['machine']}; medians of {results['runs']} runs",
        "",
        "| manuscript | side | seconds | CPU seconds | peak MiB (PSS) "
        "| time ratio | CPU ratio | memory ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("article", "book"):
        entry = results[name]
        assert isinstance(entry, dict)
        pairs = [("publisher", "pandoc"), ("publisher", "pandoc-at-once")]
        pairs += [("publisher-epub", "pandoc-epub"), ("publisher-a4", "pandoc")]
        for ours, theirs in pairs:
            a, b = entry[ours], entry[theirs]
            pages = entry["pages_a4" if ours.endswith("a4") else "pages"]
            lines.append(
                f"| {name} ({pages} pages) | {ours} | {a['seconds']} | {a['cpu_seconds']} | "
                f"{a['peak_mib']} | {a['seconds'] / b['seconds']:.2f} | "
                f"{a['cpu_seconds'] / b['cpu_seconds']:.2f} | "
                f"{a['peak_mib'] / b['peak_mib']:.2f} |"
            )
            their_pages = f" ({entry['pandoc_pages']} A4 pages)" if "pandoc" in theirs else ""
            lines.append(
                f"| | {theirs}{their_pages} | {b['seconds']} | {b['cpu_seconds']} | "
                f"{b['peak_mib']} | | | |"
            )
    loop = results["loop"]
    assert isinstance(loop, dict)
    lines += [
        "",
        f"author's loop (article): no-op build {loop['noop_build_seconds']} s, "
        f"warm rebuild after an edit {loop['warm_rebuild_seconds']} s",
    ]
    return "\n".join(lines)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results = bench(runs)
    target = ROOT / "build" / "bench.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(report(results))
    print(f"\nJSON: {target}")


if __name__ == "__main__":
    main()
