"""`publisher`, the whole command-line interface: every verb an author needs. The
Invoke tasks of the repository (tasks.py) are thin aliases of these verbs, with the
same option names and short flags (tests/test_cli.py compares them).

The manuscript is the positional argument or `-m/--manuscript` (default: the
current folder); outputs go to `-o/--output` (default: build/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from publisher import __version__
from publisher.app import commands
from publisher.model import BuildOptions
from publisher.pdf.profiles import STANDARDS
from publisher.source.styles import shipped_styles

STYLES = shipped_styles()
# The short flags, here and in the repository's Invoke tasks (tasks.py reads this
# table): one letter means one option everywhere.
SHORT = {
    "manuscript": "m",
    "output": "o",
    "style": "s",
    "styles": "t",
    "profile": "p",
    "pdf-standard": "d",
    "kobo": "k",
    "force": "f",
    "quiet": "q",
    "verbose": "v",
    "resolution": "r",
}


def flags(name: str) -> list[str]:
    """`-x`, `--name` for an option of SHORT; `--name` alone otherwise."""
    return ([f"-{SHORT[name]}"] if name in SHORT else []) + [f"--{name}"]


class _Parser(argparse.ArgumentParser):
    """A mistake on the command line is one line too, as every user error is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="publisher",
        description="One Markdown manuscript in: an EPUB 3 and a typeset, tagged PDF out.",
        epilog="'publisher VERB --help' shows a verb's options.",
    )
    parser.add_argument("--version", action="version", version=f"publisher {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def manuscript(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "path",
            nargs="?",
            metavar="MANUSCRIPT",
            help="a Markdown file or a folder of them (default: the current folder)",
        )
        sub.add_argument(*flags("manuscript"), help="the same, as an option")

    def output(sub: argparse.ArgumentParser, default: str = "build") -> None:
        sub.add_argument(*flags("output"), default=default, help=f"output folder ({default}/)")

    def look(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(*flags("style"), help="book style: default, classic, modern, news, …")
        sub.add_argument(
            *flags("styles"), default=str(STYLES), help="the styles folder (the shipped one)"
        )

    def pdf(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(*flags("profile"), help="PDF profile: print (default) or screen")
        sub.add_argument(
            *flags("pdf-standard"),
            help=f"PDF standard: {', '.join(STANDARDS)} or none (default: ua-1)",
        )

    def talk(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(*flags("quiet"), action="store_true", help="errors only")
        sub.add_argument(*flags("verbose"), action="store_true", help="every stage, timed")

    def book(sub: argparse.ArgumentParser) -> None:
        manuscript(sub)
        output(sub)
        look(sub)
        pdf(sub)
        sub.add_argument(*flags("kobo"), action="store_true", help="also the Kobo edition")
        sub.add_argument(
            "--only",
            choices=("epub", "pdf"),
            help="one of the two outputs (the EPUB then has no print page list)",
        )
        talk(sub)

    build = verbs.add_parser("build", help="write the EPUB and the PDF")
    book(build)
    build.add_argument(*flags("force"), action="store_true", help="rebuild even if up to date")
    check = verbs.add_parser(
        "check", help="validate what was built: EPUBCheck, DAISY Ace, the PDF, lint"
    )
    manuscript(check)
    output(check)
    lint = verbs.add_parser("lint", help="lint the manuscript's Markdown")
    manuscript(lint)
    proof = verbs.add_parser("proof", help="the PDF's pages as PNG and a contact sheet")
    manuscript(proof)
    output(proof)
    look(proof)
    proof.add_argument(*flags("resolution"), default="60", help="pixels per inch (60)")
    gallery = verbs.add_parser("gallery", help="manuscripts in every style, to choose by looking")
    gallery.add_argument("books", nargs="*", metavar="MANUSCRIPT", help="(the current folder)")
    output(gallery, "build/gallery")
    look(gallery)
    watch = verbs.add_parser("watch", help="rebuild on every save")
    book(watch)
    serve = verbs.add_parser("serve", help="watch, with a live preview on 127.0.0.1")
    book(serve)
    serve.add_argument("--port", default="8000", help="port (8000; 0: any free one)")
    new = verbs.add_parser("new", help="create a starter manuscript that builds at once")
    new.add_argument("folder", help="a new folder")
    clean = verbs.add_parser("clean", help="remove the output folder")
    output(clean)
    styles = verbs.add_parser("styles", help="the book styles, with what each is for")
    styles.add_argument(
        *flags("styles"), default=str(STYLES), help="the styles folder (the shipped one)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    verb = args.verb
    if extra:  # named here, where the verb is known (argparse's top level does not)
        parser.exit(
            2,
            f"publisher {verb}: error: unrecognized arguments: {' '.join(extra)} "
            f"(see publisher {verb} --help)\n",
        )
    if verb == "new":
        return commands.new(Path(args.folder))
    if verb == "clean":
        return commands.clean(Path(args.output))
    if verb == "styles":
        return commands.list_styles(Path(args.styles))
    if verb == "gallery":
        books = [Path(b) for b in args.books] or [Path(".")]
        return commands.gallery(books, Path(args.output), Path(args.styles), only=args.style)
    if args.path and args.manuscript and args.path != args.manuscript:
        parser.exit(
            2,
            f"publisher {verb}: error: give the manuscript once: as MANUSCRIPT or as "
            f"--manuscript (see publisher {verb} --help)\n",
        )
    manuscript = Path(args.manuscript or args.path or ".")
    if verb == "lint":
        return commands.lint_manuscript(manuscript)
    if verb == "check":
        return commands.check(manuscript, Path(args.output))
    if verb == "proof":
        return commands.proof(
            manuscript, Path(args.output), args.resolution, style=args.style,
            styles=Path(args.styles),
        )  # fmt: skip
    verbosity = 0 if args.quiet else 2 if args.verbose else 1
    formats: tuple[str, ...] = (args.only,) if args.only else ("epub", "pdf")
    if args.kobo and "epub" in formats:
        formats += ("kepub",)
    options = BuildOptions(
        manuscript,
        Path(args.output),
        Path(args.styles),
        formats,
        args.profile,
        args.pdf_standard,
        args.style,
    )
    if verb == "watch":
        return commands.watch(options, verbosity=verbosity)
    if verb == "serve":
        if not args.port.isdigit():
            print(f"error: --port {args.port!r} is not a number (use 0 to 65535)", file=sys.stderr)
            return 2
        if int(args.port) > 65535:
            hint = "use 1 to 65535, or 0 for any free one"
            print(f"error: --port {args.port} is out of range ({hint})", file=sys.stderr)
            return 2
        return commands.serve(options, port=int(args.port), verbosity=verbosity)
    return commands.build(
        manuscript,
        options.output,
        options.styles,
        formats,
        profile=args.profile,
        pdf_standard=args.pdf_standard,
        style=args.style,
        force=args.force,
        verbosity=verbosity,
    )


if __name__ == "__main__":
    sys.exit(main())
