"""Every helper process goes through publisher.forked: it forks only where that is
safe, never waits for ever, and whatever goes wrong with the helper, the work is
done in this process with the same bytes."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from publisher import forked
from publisher.forked import Channel, Forked, Lost, can_fork
from publisher.pdf import job as pdfjob

from conftest import ARTICLE, Built, Warnings, build_book


def test_a_round_trip_carries_values_and_log_records() -> None:
    def body(channel: Channel) -> None:
        logging.getLogger("publisher").warning("from the child %d", 7)
        channel.send("double", channel.receive() * 2)
        channel.send("pid", os.getpid())

    kept = Warnings()
    logger = logging.getLogger("publisher")
    logger.addHandler(kept)
    try:
        child = Forked(body)
        child.send(21)
        assert child.receive() == ("double", 42)
        assert child.receive()[1] != os.getpid()
        child.close(kill=False)
    finally:
        logger.removeHandler(kept)
    assert kept.messages == ["from the child 7"]


def test_an_error_in_the_child_is_raised_here() -> None:
    def body(channel: Channel) -> None:
        channel.send("error", ValueError("bad value in the child"))

    child = Forked(body)
    with pytest.raises(ValueError, match="bad value in the child"):
        child.receive()
    child.close()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda channel: os._exit(3), id="dies"),
        pytest.param(lambda channel: channel.send("value", lambda: None), id="unpicklable"),
        pytest.param(
            lambda channel: os.write(channel._outbox, b"\x05\0\0\0\0\0\0\0junk"), id="junk"
        ),
    ],
)
def test_a_lost_child_raises_lost(body: object) -> None:
    child = Forked(body)  # type: ignore[arg-type]
    with pytest.raises(Lost):
        child.receive()
    assert not child.alive


def test_a_hung_child_is_killed_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that neither writes nor uses CPU (a deadlock) is given up on."""
    monkeypatch.setenv("PUBLISHER_FORK_TIMEOUT", "1")
    child = Forked(lambda channel: time.sleep(600))
    pid = child.pid
    with pytest.raises(Lost, match="no word from the helper"):
        child.receive()
    with pytest.raises(ChildProcessError):  # killed and reaped
        os.waitpid(pid, os.WNOHANG)


def test_a_busy_child_is_not_taken_for_hung(monkeypatch: pytest.MonkeyPatch) -> None:
    """Silence while the child works (its CPU time grows) is not a hang."""
    monkeypatch.setenv("PUBLISHER_FORK_TIMEOUT", "1")

    def body(channel: Channel) -> None:
        end = time.monotonic() + 3
        while time.monotonic() < end:
            pass
        channel.send("done", True)

    child = Forked(body)
    assert child.receive() == ("done", True)
    child.close(kill=False)


def test_where_forking_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLISHER_NO_FORK", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert can_fork()
    monkeypatch.setenv("PUBLISHER_NO_FORK", "1")
    assert not can_fork()
    monkeypatch.delenv("PUBLISHER_NO_FORK")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert not can_fork()  # off by default on macOS
    monkeypatch.setenv("PUBLISHER_NO_FORK", "0")
    assert can_fork()
    monkeypatch.delattr(os, "fork")
    assert not can_fork()


def test_no_fork_from_a_process_with_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLISHER_NO_FORK", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not can_fork()
        assert type(pdfjob.start(ARTICLE, "en")) is pdfjob.PdfJob
    finally:
        stop.set()
        thread.join()
    assert can_fork()


def _same(a: Built, b: Built) -> None:
    assert a.pdf.read_bytes() == b.pdf.read_bytes()
    assert a.epub.read_bytes() == b.epub.read_bytes()


@pytest.mark.slow
def test_no_fork_gives_the_same_bytes(article: Built, tmp_path: Path) -> None:
    _same(build_book(ARTICLE, tmp_path, env={"PUBLISHER_NO_FORK": "1"}), article)


@pytest.mark.slow
def test_a_failed_fork_is_done_here(
    article: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(forked.os, "fork", no_fork)
    monkeypatch.setattr(pdfjob, "start", pdfjob.ForkedPdfJob)
    _same(build_book(ARTICLE, tmp_path), article)


@pytest.mark.slow
def test_a_hung_pdf_child_is_replaced_by_this_process(
    article: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdfjob, "_child", lambda *args: time.sleep(600))
    monkeypatch.setattr(pdfjob, "start", pdfjob.ForkedPdfJob)
    built = build_book(ARTICLE, tmp_path, env={"PUBLISHER_FORK_TIMEOUT": "1"})
    _same(built, article)
