"""The `publisher` command, for those who install the package without the
repository: the same verbs as the Invoke tasks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__, commands
from .model import BuildOptions
from .styles import shipped_styles

STYLES = shipped_styles()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="publisher", description="One Markdown manuscript in: an EPUB 3 and a typeset PDF out."
    )
    parser.add_argument("--version", action="version", version=f"publisher {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def book_options(sub: argparse.ArgumentParser, outputs: bool = True) -> None:
        sub.add_argument(
            "manuscript",
            nargs="?",
            default="manuscript",
            help="a Markdown file or a folder of them (default: manuscript)",
        )
        if outputs:
            sub.add_argument("-o", "--output", default="build", help="output folder (build)")
            sub.add_argument("--styles", default=str(STYLES), help="styles folder")
            sub.add_argument("--style", help="book style: default, classic, modern, news, ...")
            sub.add_argument("--profile", help="PDF profile: print or screen")
            sub.add_argument("--pdf-standard", help="ua-1 (default), a-3b, x-4, ... or none")
            sub.add_argument("-q", "--quiet", action="store_true", help="errors only")
            sub.add_argument("-v", "--verbose", action="store_true", help="every stage, timed")

    build = verbs.add_parser("build", help="write the EPUB and the PDF")
    book_options(build)
    build.add_argument("--only", choices=("epub", "pdf"), help="one of the two outputs")
    build.add_argument("--kobo", action="store_true", help="also the Kobo edition (kepub)")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    check = verbs.add_parser("check", help="validate what was built")
    book_options(check)
    lint = verbs.add_parser("lint", help="lint the manuscript's Markdown")
    book_options(lint, outputs=False)
    watch = verbs.add_parser("watch", help="rebuild on every save")
    book_options(watch)
    serve = verbs.add_parser("serve", help="a live preview on 127.0.0.1")
    book_options(serve)
    serve.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    new = verbs.add_parser("new", help="create a starter manuscript that builds at once")
    new.add_argument("folder", help="a new folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb == "new":
        return commands.new(Path(args.folder))
    manuscript = Path(args.manuscript)
    if args.verb == "lint":
        return commands.lint_manuscript(manuscript)
    if args.verb == "check":
        return commands.check(manuscript, Path(args.output))
    verbosity = 0 if args.quiet else 2 if args.verbose else 1
    formats: tuple[str, ...] = ("epub", "pdf")
    if getattr(args, "only", None):
        formats = (args.only,)
    if getattr(args, "kobo", False):
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
    if args.verb == "watch":
        return commands.watch(options, verbosity=verbosity)
    if args.verb == "serve":
        return commands.serve(options, port=args.port, verbosity=verbosity)
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
