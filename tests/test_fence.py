"""The fence (publisher.source.fence) around every file the manuscript names, and the
costs of its YAML: each hostile name in each place a manuscript can give one
(book.yaml, `chapters:`, a chapter found in the folder, `cover-image:`, an image, a
link), each hostile value for each metadata key. Whatever comes in: never exit 70,
at most one `error:` line, nothing from outside the folder in the EPUB."""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from publisher.app.cli import main
from publisher.source import fence
from publisher.source.metadata import EXTENSION_KEYS, KNOWN_KEYS

from conftest import need

SECRET = "FENCE-SECRET-4b1d9e"
LONG = "n" * 300


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def publish(manuscript: str, out: str = "out") -> tuple[int, list[str]]:
    """`publisher build MANUSCRIPT --only epub`: the exit code and stderr's lines."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["build", manuscript, "-o", out, "--only", "epub", "-q"])
    return code, [line for line in err.getvalue().splitlines() if line.strip()]


def epub_text() -> str:
    epubs = list(Path("out").glob("*.epub"))
    if not epubs:
        return ""
    with zipfile.ZipFile(epubs[0]) as z:
        return "".join(
            z.read(n).decode("utf-8")
            for n in z.namelist()
            if n.endswith((".xhtml", ".opf", ".ncx", ".css"))
        )


def one_error(code: int, lines: list[str], *words: str) -> str:
    """The build failed with one clear line (not an internal error) holding `words`."""
    assert code == 2, lines
    errors = [line for line in lines if ": error: " in line or line.startswith("error:")]
    assert len(errors) == 1 and errors[0] == lines[-1], lines
    assert "internal error" not in errors[0] and "Traceback" not in "\n".join(lines)
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def png(path: Path, size: tuple[int, int] = (4, 4)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "teal").save(path, "PNG")


def outside(tmp: Path) -> None:
    """Files beside the manuscript folder: what a link out of it would reach."""
    (tmp / "outside.yaml").write_text(f"title: {SECRET}\n")
    (tmp / "outside.md").write_text(f"# {SECRET}\n\n{SECRET}\n")
    png(tmp / "outside.png", (37, 23))
    (tmp / "elsewhere").mkdir()
    (tmp / "elsewhere" / "ch.md").write_text(f"# {SECRET}\n")
    png(tmp / "elsewhere" / "pic.png")


# Ways a name in the folder can lead out of it or to something that is no file:
# name -> makes it in the folder given (the manuscript's).
Maker = Callable[[Path, str], None]


def link_to(target: str) -> Maker:
    return lambda folder, name: (folder / name).symlink_to(target)


def chain_to(target: str) -> Maker:
    def make(folder: Path, name: str) -> None:
        (folder / "hop2").symlink_to(target)
        (folder / "hop1").symlink_to("hop2")
        (folder / name).symlink_to("hop1")

    return make


def fifo(folder: Path, name: str) -> None:
    os.mkfifo(folder / name)


def loop(folder: Path, name: str) -> None:
    (folder / "loop-a").symlink_to("loop-b")
    (folder / "loop-b").symlink_to("loop-a")
    (folder / name).symlink_to("loop-a")


def a_folder(folder: Path, name: str) -> None:
    (folder / name).mkdir()


def through_linked_folder(kind: str) -> Maker:
    """`name` is inside a folder that is a link to ../elsewhere."""

    def make(folder: Path, name: str) -> None:
        (folder / "linked").symlink_to("../elsewhere")
        target = folder.parent / "elsewhere" / Path(name).name
        if not target.exists():
            if kind == "png":
                png(target)
            else:
                target.write_text(f"{SECRET}\n")

    return make


# id -> (the maker, given the outside file a link reaches; words the error holds)
HOSTILE: dict[str, tuple[Callable[[str], Maker], str]] = {
    "link-outside": (lambda out: link_to(f"../{out}"), "outside the manuscript folder"),
    "link-proc-environ": (
        lambda out: link_to("/proc/self/environ"),
        "outside the manuscript folder",
    ),
    "link-chain": (lambda out: chain_to(f"../{out}"), "outside the manuscript folder"),
    "link-dev-zero": (lambda out: link_to("/dev/zero"), "outside the manuscript folder"),
    "fifo": (lambda out: fifo, "is not a regular file"),
    "loop": (lambda out: loop, "is a loop of symbolic links"),
}


# --- book.yaml ------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(HOSTILE))
def test_book_yaml_through_the_fence(tmp_path: Path, case: str) -> None:
    outside(tmp_path)
    book = tmp_path / "book"
    book.mkdir()
    (book / "a.md").write_text("# One\n\nText.\n")
    maker, words = HOSTILE[case]
    maker("outside.yaml")(book, "book.yaml")
    line = one_error(*publish("book"), words)
    assert line.startswith("book/book.yaml: error: metadata file 'book.yaml' "), line
    assert SECRET not in epub_text()


def test_book_yaml_linked_inside_the_folder_is_read(tmp_path: Path) -> None:
    book = tmp_path / "book"
    (book / "meta").mkdir(parents=True)
    (book / "meta" / "real.yaml").write_text("title: Linked Inside\n")
    (book / "book.yaml").symlink_to("meta/real.yaml")
    (book / "a.md").write_text("# One\n\nText.\n")
    code, lines = publish("book")
    assert code == 0, lines
    assert "Linked Inside" in epub_text()


def test_hard_links_are_read_as_the_file_they_are(tmp_path: Path) -> None:
    """Documented (fence.py, README): a hard link is the file itself; nothing tells
    whether its other name is inside the folder, so it is read, as a copy would be."""
    outside(tmp_path)
    book = tmp_path / "book"
    book.mkdir()
    os.link(tmp_path / "outside.yaml", book / "book.yaml")
    os.link(tmp_path / "outside.md", book / "a.md")
    code, lines = publish("book")
    assert code == 0, lines
    assert SECRET in epub_text()


# --- chapters: listed, and found in the folder ----------------------------------------


def listed(tmp: Path, name: str, maker: Maker | None = None) -> None:
    book = tmp / "book"
    book.mkdir(exist_ok=True)
    (book / "book.yaml").write_text(f"title: A\nchapters:\n  - {name}\n")
    if maker is not None:
        maker(book, name.strip('"'))


@pytest.mark.parametrize("case", list(HOSTILE))
def test_listed_chapter_through_the_fence(tmp_path: Path, case: str) -> None:
    outside(tmp_path)
    maker, words = HOSTILE[case]
    listed(tmp_path, "ch.md", maker("outside.md"))
    line = one_error(*publish("book"), words)
    assert line.startswith("book/book.yaml:3: error: chapter 'ch.md' "), line
    assert SECRET not in epub_text()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ('"a\\0b.md"', "chapter 'a\\x00b.md' has a NUL character in its name"),
        ('"a\\e[2Jb.md"', "chapter 'a\\x1b[2Jb.md' has a control character in its name"),
        ('"a\\uD800.md"', "has a name that is not valid UTF-8"),
        (f"{LONG}.md", "has a name longer than 255 bytes"),
        ("/".join(["d" * 200] * 25) + ".md", "has a path longer than 4096 bytes"),
        ("sub", "chapter 'sub' is a folder, not a file"),
        ("linked/ch.md", "chapter 'linked/ch.md' is outside the manuscript folder"),
        ("../outside.md", "is outside the manuscript folder"),
        ("/etc/hostname", "is outside the manuscript folder"),
    ],
)
def test_listed_chapter_names(tmp_path: Path, name: str, words: str) -> None:
    outside(tmp_path)
    listed(tmp_path, name)
    (tmp_path / "book" / "sub").mkdir()
    through_linked_folder("md")(tmp_path / "book", "linked/ch.md")
    one_error(*publish("book"), words)
    assert SECRET not in epub_text()


@pytest.mark.parametrize(
    "chapters",
    [
        "&a [*a]",
        "&a [{part: P, chapters: *a}]",
        "[{part: &p [*p], chapters: [a.md]}]",
    ],
)
def test_recursive_chapters_alias(tmp_path: Path, chapters: str) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.md").write_text("Text.\n")
    (tmp_path / "book" / "book.yaml").write_text(f"title: A\nchapters: {chapters}\n")
    one_error(*publish("book"), "book/book.yaml:2: error: a YAML alias refers to the value")


@pytest.mark.parametrize("part", ["null", "[x]", "{a: b}", "true", "''"])
def test_part_title_that_is_not_text(tmp_path: Path, part: str) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.md").write_text("Text.\n")
    yaml_text = f"title: A\nchapters:\n  - {{part: {part}, chapters: [a.md]}}\n"
    (tmp_path / "book" / "book.yaml").write_text(yaml_text)
    one_error(*publish("book"), "book/book.yaml:2: error: a part needs a title")


@pytest.mark.parametrize(
    "case", ["link-outside", "link-proc-environ", "link-chain", "fifo", "loop"]
)
def test_found_chapter_the_fence_stops_is_skipped(tmp_path: Path, case: str) -> None:
    outside(tmp_path)
    book = tmp_path / "book"
    book.mkdir()
    (book / "01-one.md").write_text("---\ntitle: A\n---\n\n# One\n\nText.\n")
    HOSTILE[case][0]("outside.md")(book, "02-two.md")
    code, lines = publish("book")
    assert code == 0, lines
    assert lines and all(
        line.startswith("book/02-two.md: warning: chapter skipped: it ") for line in lines
    ), lines
    assert SECRET not in epub_text()


def test_found_chapter_with_a_name_not_utf8_is_skipped(tmp_path: Path) -> None:
    book = tmp_path / "book"
    book.mkdir()
    (book / "01-one.md").write_text("---\ntitle: A\n---\n\n# One\n\nText.\n")
    with open(os.path.join(os.fsencode(book), b"02-caf\xe9.md"), "w") as file:
        file.write("# Two\n")
    code, lines = publish("book")
    assert code == 0, lines
    assert len(lines) == 1 and "chapter skipped: it has a name that is not valid UTF-8" in lines[0]


def test_manuscript_folder_with_a_name_not_utf8_builds(tmp_path: Path) -> None:
    """The folder is the author's to name: its bytes are hashed for the cache."""
    folder = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9"))
    os.mkdir(folder)
    Path(folder, "book.md").write_text("---\ntitle: A\n---\n\nText.\n")
    for _ in range(2):  # built, then up to date
        code, lines = publish(folder)
        assert code == 0 and not lines, lines


# --- cover-image: ---------------------------------------------------------------------


def cover_book(tmp: Path, name: str) -> None:
    (tmp / "book").mkdir(exist_ok=True)
    (tmp / "book" / "book.md").write_text(f"---\ntitle: A\ncover-image: {name}\n---\n\nText.\n")


@pytest.mark.parametrize("case", list(HOSTILE))
def test_cover_image_through_the_fence(tmp_path: Path, case: str) -> None:
    outside(tmp_path)
    cover_book(tmp_path, "c.png")
    maker, words = HOSTILE[case]
    maker("outside.png")(tmp_path / "book", "c.png")
    line = one_error(*publish("book/book.md"), words)
    assert line.startswith("book/book.md:3: error: cover image 'c.png' "), line


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ('"a\\0b.png"', "cover image 'a\\x00b.png' has a NUL character in its name"),
        ('"a\\x07b.png"', "has a control character in its name"),
        ('"\\uDC80.png"', "has a name that is not valid UTF-8"),
        (f"{LONG}.png", "has a name longer than 255 bytes"),
        ("sub", "cover image 'sub' is a folder, not a file"),
        ("linked/pic.png", "is outside the manuscript folder"),
        ("[a.png]", "'cover-image' must be text, not list"),
        ("{a: b}", "'cover-image' must be text, not dict"),
        ("true", "'cover-image' must be text, not bool"),
    ],
)
def test_cover_image_names(tmp_path: Path, name: str, words: str) -> None:
    outside(tmp_path)
    cover_book(tmp_path, name)
    (tmp_path / "book" / "sub").mkdir()
    through_linked_folder("png")(tmp_path / "book", "linked/pic.png")
    one_error(*publish("book/book.md"), words)


# --- images and links ------------------------------------------------------------------


def image_book(tmp: Path, src: str) -> None:
    (tmp / "book").mkdir(exist_ok=True)
    (tmp / "book" / "book.md").write_text(f"---\ntitle: A\n---\n\n![A picture]({src})\n")


@pytest.mark.parametrize(
    "case", ["link-outside", "link-proc-environ", "link-chain", "linked-folder"]
)
def test_image_leading_outside_is_dropped(tmp_path: Path, case: str) -> None:
    outside(tmp_path)
    src = "linked/pic.png" if case == "linked-folder" else "p.png"
    image_book(tmp_path, src)
    book = tmp_path / "book"
    if case == "linked-folder":
        through_linked_folder("png")(book, src)
    elif case == "link-proc-environ":
        link_to("/proc/self/environ")(book, src)
    else:
        (chain_to if case == "link-chain" else link_to)("../outside.png")(book, src)
    code, lines = publish("book/book.md")
    assert code == 0, lines
    assert lines == [
        f"book/book.md:5: warning: image '{src}' dropped: it is outside the manuscript folder"
    ]
    with zipfile.ZipFile(next(Path("out").glob("*.epub"))) as z:
        assert [n for n in z.namelist() if "images/" in n] == ["EPUB/images/cover.jpg"]


@pytest.mark.parametrize(
    ("src", "words"),
    [
        ("a%00b.png", "image 'a%00b.png' has a NUL character in its name"),
        ("a%07b.png", "has a control character in its name"),
        (f"{LONG}.png", "has a name longer than 255 bytes"),
        ("p.png", "image 'p.png' is not a regular file"),
        ("loop.png", "is a loop of symbolic links"),
        ("sub", "image 'sub' is a folder, not a file"),
    ],
)
def test_image_names(tmp_path: Path, src: str, words: str) -> None:
    image_book(tmp_path, src)
    book = tmp_path / "book"
    os.mkfifo(book / "p.png")
    loop(book, "loop.png")
    (book / "sub").mkdir()
    one_error(*publish("book/book.md"), "book/book.md:5: error: image '", words)


def test_image_inside_through_links_and_hard_links_is_kept(tmp_path: Path) -> None:
    book = tmp_path / "book"
    png(book / "pictures" / "pic.png")
    (book / "imgs").symlink_to("pictures")
    os.link(book / "pictures" / "pic.png", book / "hard.png")
    image_book(tmp_path, "imgs/pic.png")
    with (book / "book.md").open("a") as file:
        file.write("\n![Again](hard.png)\n")
    code, lines = publish("book/book.md")
    assert code == 0 and not lines, lines


@pytest.mark.parametrize("href", ["a%00b.md", f"{LONG}.md", "a%07b.md#x"])
def test_link_to_a_name_no_file_can_have_is_removed(tmp_path: Path, href: str) -> None:
    (tmp_path / "book.md").write_text(f"---\ntitle: A\n---\n\nSee [there]({href}).\n")
    code, lines = publish("book.md")
    assert code == 0, lines
    assert lines == [f"book.md:5: warning: link '{href}' removed: it is not a chapter of this book"]


# --- a file swapped while the build runs -------------------------------------------------
# Each image and the cover are read once, at the fence, and both outputs package
# those bytes: a swap after the check reaches nothing; a swap between the fence's
# look and its read is refused (M11).

SECRET_SIZE = (37, 23)  # outside.png's: in an output, the swap leaked


def image_sizes(out: Path) -> list[tuple[int, int]]:
    """The size of every image in the EPUB and in the PDF."""
    import pikepdf

    sizes = []
    with zipfile.ZipFile(next(out.glob("*.epub"))) as z:
        for name in z.namelist():
            if name.endswith((".png", ".jpg")):
                with Image.open(io.BytesIO(z.read(name))) as image:
                    sizes.append(image.size)
    with pikepdf.open(next(out.glob("*.pdf"))) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == "/Image":
                sizes.append((int(obj.Width), int(obj.Height)))
    return sizes


@pytest.mark.parametrize("where", ["image", "cover"])
def test_a_file_swapped_after_its_check_never_reaches_the_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The image (or the cover) passes the fence and is decoded; then, before the
    EPUB and the PDF are made, it is swapped for a link to a file outside the
    folder. ebooklib and WeasyPrint used to open it again by its path."""
    from publisher.source import images

    outside(tmp_path)
    book = tmp_path / "book"
    png(book / "pic.png", (5, 7))
    if where == "cover":
        front, text = "cover-image: pic.png\n", "No picture here."
    else:
        front, text = "", "![A picture](pic.png)"
    (book / "book.md").write_text(f"---\ntitle: Swap\nlang: en\n{front}---\n\n# One\n\n{text}\n")
    decode = images.decode

    def decode_then_swap(data: bytes, media_type: str) -> tuple[int, int]:
        size = decode(data, media_type)
        if not (book / "pic.png").is_symlink():
            (book / "pic.png").unlink()
            (book / "pic.png").symlink_to(tmp_path / "outside.png")
        return size

    monkeypatch.setattr(images, "decode", decode_then_swap)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["build", "book", "-o", "out", "-q"])
    assert code == 0, err.getvalue()
    assert (book / "pic.png").is_symlink()  # the swap happened
    sizes = image_sizes(Path("out"))
    assert (5, 7) in sizes and SECRET_SIZE not in sizes, sizes


@pytest.mark.parametrize("what", ["file", "folder"])
@pytest.mark.parametrize("where", ["image", "cover"])
def test_a_file_swapped_between_the_look_and_the_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, where: str
) -> None:
    """The fence resolves the name and finds a regular file inside the folder; then
    the file, or the folder it is in, becomes a link out of it before it is read."""
    outside(tmp_path)
    book = tmp_path / "book"
    png(book / "imgs" / "pic.png", (5, 7))
    png(tmp_path / "elsewhere" / "pic.png", SECRET_SIZE)
    if where == "cover":
        cover_book(tmp_path, "imgs/pic.png")
    else:
        image_book(tmp_path, "imgs/pic.png")
    locate = fence.locate

    def locate_then_swap(root: Path, base: Path, name: str) -> Path | fence.Refused:
        found = locate(root, base, name)
        if name == "imgs/pic.png":
            if what == "file":
                (book / "imgs" / "pic.png").unlink()
                (book / "imgs" / "pic.png").symlink_to(tmp_path / "outside.png")
            else:
                (book / "imgs").rename(book / "old")
                (book / "imgs").symlink_to(tmp_path / "elsewhere")
        return found

    monkeypatch.setattr(fence, "locate", locate_then_swap)
    line = one_error(*publish("book/book.md"), "was replaced by a symbolic link while it was read")
    what_ = "cover image" if where == "cover" else "image"
    assert f": error: {what_} 'imgs/pic.png' " in line, line
    assert SECRET not in epub_text()


# --- the fence's own rules ---------------------------------------------------------------


def test_locate_names_and_shown() -> None:
    root = Path("/nonexistent-root")
    assert isinstance(fence.locate(root, root, "a\x00b"), fence.Refused)
    assert fence.locate(root, root, "x" * 256).kind == fence.NAME  # type: ignore[union-attr]
    assert fence.locate(root, root, "é" * 128).kind == fence.NAME  # type: ignore[union-attr]
    assert fence.locate(root, root, "é" * 127).kind == fence.MISSING  # type: ignore[union-attr]
    assert fence.shown("a\x00\x1b\ud800b") == "a\\x00\\x1b\\ud800b"
    assert len(fence.shown("x" * 500)) == 80


# --- YAML: costs and escapes -------------------------------------------------------------

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize("where", ["front-matter", "book.yaml"])
def test_billion_laughs_is_refused_before_it_grows(tmp_path: Path, where: str) -> None:
    yaml_text = 'title: A\na: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    yaml_text += LAUGHS
    assert len(yaml_text) < 700
    if where == "book.yaml":
        (tmp_path / "book").mkdir()
        (tmp_path / "book" / "book.yaml").write_text(yaml_text)
        (tmp_path / "book" / "a.md").write_text("Text.\n")
        manuscript = "book"
    else:
        (tmp_path / "book.md").write_text(f"---\n{yaml_text}---\n\nText.\n")
        manuscript = "book.md"
    one_error(*publish(manuscript), "the metadata holds more than 10000 values")


def test_deep_and_long_yaml_are_refused(tmp_path: Path) -> None:
    (tmp_path / "deep.md").write_text(
        "---\ntitle: A\nsubject: " + "[" * 500 + "]" * 500 + "\n---\n"
    )
    one_error(*publish("deep.md"), "deep.md:")
    (tmp_path / "long.md").write_text("---\ntitle: A\ndescription: " + "w " * 40_000 + "\n---\n")
    one_error(*publish("long.md"), "longer than 64 KB")


ESCAPES = '---\ntitle: "Bell\\a and \\0 nul"\nauthor: ["Ada\\uFFFE"]\n'
ESCAPES += 'subject: {"name": "x\\e[31m"}\ndescription: "\\x01\\x85\\uD800"\n'
ESCAPES += 'identifier: "id\\x7f-1"\ndedication: "For \\vyou"\n---\n\nText.\n'


def test_yaml_escapes_are_cleaned_with_a_warning_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "book.md").write_text(ESCAPES)
    code, lines = publish("book.md")
    assert code == 0, lines
    assert [line.split(" (")[0] for line in lines] == [
        "book.md:2: warning: removed control character U+0007",
        "book.md:3: warning: removed control character U+FFFE",
        "book.md:4: warning: removed control character U+001B",
        "book.md:5: warning: removed control character U+0001",
        "book.md:6: warning: removed control character U+007F",
        "book.md:7: warning: removed control character U+000B",
    ]
    text = epub_text()
    assert "Bell and nul" in text
    for bad in ("\x07", "\x00", "\ufffe", "\x1b", "\x01", "\x85", "\x7f", "\x0b"):
        assert bad not in text, repr(bad)


@pytest.mark.slow
def test_yaml_escapes_leave_a_valid_epub(tmp_path: Path) -> None:
    need("java")
    from publisher.check.outputs import run_epubcheck

    (tmp_path / "book.md").write_text(ESCAPES)
    code, lines = publish("book.md")
    assert code == 0, lines
    report = run_epubcheck(next(Path("out").glob("*.epub")))
    assert [str(f) for f in report if f.severity not in ("USAGE", "INFO")] == []


# --- every metadata key, every hostile value ------------------------------------------------

HOSTILE_VALUES = [
    "[]",
    "[1, 2]",
    "{a: b}",
    "{}",
    "true",
    "null",
    ".inf",
    "-.inf",
    ".nan",
    "1e309",
    "-1",
    "99999999999999999999999",
    "9" * 4000,
    "9" * 5000,
    "0000-00-00",
    "10000-01-01",
    "2024-02-30T25:61:00",
    '"\\0"',
    '"\\uD800"',
    '"' + "x" * 30_000 + '"',
    "[[[[x]]]]",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!float 1e400",
    "!!python/object:os.system x",
    "{name: {x: y}}",
    "{text: [1], scheme: {a: 1}}",
    "&x [*x]",
]


@pytest.mark.slow  # about 700 builds
@pytest.mark.parametrize("key", ["chapters", *KNOWN_KEYS, *EXTENSION_KEYS])
def test_hostile_values_for_every_key(tmp_path: Path, key: str) -> None:
    """Each value for the key: a build or one clear error line, never exit 70."""
    for n, value in enumerate(HOSTILE_VALUES):
        folder = tmp_path / str(n)
        folder.mkdir()
        title = "" if key == "title" else "title: T\n"
        (folder / "book.md").write_text(f"---\n{title}{key}: {value}\n---\n\nText.\n")
        code, lines = publish(f"{n}/book.md", f"{n}/out")
        assert code != 70, (value[:40], lines)
        if code:
            error = one_error(code, lines)
            assert len(error) < 400, error


def test_watch_snapshot_survives_loops_and_links_out(tmp_path: Path) -> None:
    """`publisher watch` looks at every file under the manuscript: a loop of links
    is passed over, a link to a folder outside is not walked."""
    from publisher.app.watch import snapshot

    book = tmp_path / "book"
    book.mkdir()
    (book / "a.md").write_text("# A\n")
    loop(book, "c.md")
    (book / "usr").symlink_to("/usr")
    assert list(snapshot([book], tmp_path / "out")) == [str(book / "a.md")]
