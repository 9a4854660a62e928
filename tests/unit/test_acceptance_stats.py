"""Acceptance statistics: what the clients report, retained characters, the local log, and the
figures of `lsp-assist stats`."""

from __future__ import annotations

import argparse
import io
import json
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lsp_assist.completion.engine import Suggestion
from lsp_assist.documents import Document
from lsp_assist.positions import PositionEncoding
from lsp_assist.stats.aggregate import GroupStats, aggregate, percentile, total
from lsp_assist.stats.events import StatsEvent
from lsp_assist.stats.log import StatsLog, stats_dir
from lsp_assist.stats.recorder import AcceptanceRecorder
from lsp_assist.stats.retention import TrackedRange, locate, retained_chars
from lsp_assist.stats_command import format_text, run
from lsp_assist.workers import BackgroundWorker

URI = "file:///workspace/add.py"
TEXT = "def add(a, b):\n    return \n"
CURSOR = TEXT.index("return ") + len("return ")
QWEN = Suggestion("a + b", "model", "lsp-assist · qwen2.5-coder:1.5b-base", {"total_ms": 40.0})


# -- retention: finding and following the accepted text ---------------------------------------


def test_the_accepted_text_is_found_nearest_to_where_it_was_asked_for() -> None:
    text = "x = a + b\ny = a + b\nz = a + b\n"
    assert locate(text, "a + b", text.index("y =") + 4) == text.index("y =") + 4
    assert locate(text, "a + b", 0) == 4
    assert locate(text, "c", 4) is None
    assert locate(text, "a + b", 10_000, window=100) is None


def test_a_tracked_range_moves_with_edits_before_it_and_ignores_edits_after_it() -> None:
    tracked = TrackedRange(10, 15)
    tracked.edited(0, 2, 5)  # 2 characters before it became 5
    assert (tracked.start, tracked.end) == (13, 18)
    tracked.edited(18, 18, 4)  # typing right after it
    tracked.edited(13, 13, 1)  # typing right before it
    assert (tracked.start, tracked.end) == (14, 19)


def test_a_tracked_range_grows_and_shrinks_with_edits_inside_it() -> None:
    tracked = TrackedRange(10, 15)
    tracked.edited(12, 14, 0)
    assert (tracked.start, tracked.end) == (10, 13)
    tracked.edited(11, 11, 3)
    assert (tracked.start, tracked.end) == (10, 16)


def test_a_tracked_range_cut_by_an_edit_across_its_edge_keeps_what_is_left() -> None:
    tracked = TrackedRange(10, 15)
    tracked.edited(8, 12, 0)  # deletes 2 before it and its first 2
    assert (tracked.start, tracked.end) == (8, 11)
    tracked.edited(10, 20, 1)  # replaces its last character and what follows
    assert (tracked.start, tracked.end) == (8, 11)
    tracked.edited(0, 30, 0)  # everything gone
    assert tracked.start == tracked.end == 0


def test_retained_characters_count_what_is_still_there_in_order() -> None:
    assert retained_chars("a + b", "a + b") == 5
    assert retained_chars("a + b", "a ") == 2
    assert retained_chars("a + b", "a - b") == 4
    assert retained_chars("a + b", "") == 0
    assert retained_chars("a + b", "zzzz a + b zzzz") == 5


# -- the recorder --------------------------------------------------------------------------


@dataclass
class Timer:
    delay: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Timers:
    """The recorder's scheduler, fired by hand: 30 s pass when the test says so."""

    made: list[Timer] = field(default_factory=list)

    def __call__(self, delay: float, callback: Callable[[], None]) -> Timer:
        self.made.append(Timer(delay, callback))
        return self.made[-1]

    def fire(self) -> None:
        for timer in [t for t in self.made if not t.cancelled]:
            timer.cancelled = True
            timer.callback()


@dataclass
class Setup:
    recorder: AcceptanceRecorder
    worker: BackgroundWorker
    timers: Timers
    documents: dict[str, Document]
    state: Path
    generations: list[int]

    def open(self, text: str = TEXT, uri: str = URI) -> Document:
        self.documents[uri] = Document(uri, text, language_id="python")
        return self.documents[uri]

    def edit(self, begin: int, finish: int, new_text: str, uri: str = URI) -> None:
        """An editor's change, as the session applies it and then tells the recorder."""
        self.documents[uri].replace(begin, finish, new_text)
        self.recorder.document_edited(uri, (begin, finish), len(new_text))

    def answer(self, suggestion: Suggestion = QWEN, offset: int = CURSOR, uri: str = URI) -> str:
        self.generations[0] += suggestion.source == "model"
        return self.recorder.answered(uri, offset, "python", suggestion)

    def events(self) -> list[StatsEvent]:
        self.worker.close()  # lets the queued writes land (the worker restarts when used)
        return list(self.recorder.log.read())

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events()]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    worker = BackgroundWorker()
    timers = Timers()
    documents: dict[str, Document] = {}
    generations = [0]
    recorder = AcceptanceRecorder(
        state_dir=tmp_path / "state",
        worker=worker,
        document=documents.get,
        generations=lambda: generations[0],
        retention_s=30,
        schedule=timers,
    )
    yield Setup(recorder, worker, timers, documents, tmp_path / "state", generations)
    worker.close()


def test_nothing_is_written_for_a_suggestion_that_was_never_shown(setup: Setup) -> None:
    setup.open()
    setup.answer()
    assert setup.events() == []


def test_ids_are_unique_in_a_session_and_differ_between_sessions(
    setup: Setup, tmp_path: Path
) -> None:
    setup.open()
    first, second = setup.answer(), setup.answer()
    other = AcceptanceRecorder(state_dir=tmp_path, worker=setup.worker, document=lambda uri: None)
    assert first != second
    assert other.answered(URI, 0, "python", QWEN) not in (first, second)


def test_a_shown_suggestion_is_written_with_its_model_language_source_and_latency(
    setup: Setup,
) -> None:
    setup.open()
    setup.recorder.shown(setup.answer())
    generations, shown = setup.events()
    assert (generations.kind, generations.count, generations.model) == (
        "generations",
        1,
        "qwen2.5-coder:1.5b-base",
    )
    assert shown.kind == "shown" and shown.language == "python"
    assert (shown.source, shown.latency_ms, shown.chars) == ("model", 40.0, 5)


def test_one_accept_counts_per_suggestion_whichever_way_it_arrives(setup: Setup) -> None:
    setup.open()
    suggestion_id = setup.answer()
    setup.edit(CURSOR, CURSOR, "a + b")
    setup.recorder.accepted(suggestion_id)  # the item's command
    setup.recorder.accepted(suggestion_id, 5, PositionEncoding.UTF8)  # and a notification
    assert setup.kinds().count("accepted") == 1


def test_an_accept_implies_the_suggestion_was_shown(setup: Setup) -> None:
    setup.open()
    suggestion_id = setup.answer()
    setup.edit(CURSOR, CURSOR, "a + b")
    setup.recorder.accepted(suggestion_id)
    assert [k for k in setup.kinds() if k != "generations"] == ["shown", "accepted"]


def test_partial_accepts_count_the_total_so_far_in_the_clients_code_units(
    setup: Setup,
) -> None:
    setup.open()
    suggestion_id = setup.answer(Suggestion("naïve_sum(€)", "model", "m", {"total_ms": 1.0}))
    setup.edit(CURSOR, CURSOR, "naïve_")
    setup.recorder.partial(suggestion_id, 7, PositionEncoding.UTF8)  # "naïve_": ï is 2 bytes
    setup.recorder.partial(suggestion_id, 7, PositionEncoding.UTF8)  # the same again: nothing
    setup.recorder.partial(suggestion_id, 3, PositionEncoding.UTF8)  # less: nothing
    setup.edit(CURSOR + 6, CURSOR + 6, "sum(")
    setup.recorder.partial(suggestion_id, 10, PositionEncoding.UTF16)
    partials = [e.chars for e in setup.events() if e.kind == "partial"]
    assert partials == [6, 10]


def test_a_dismissal_after_an_accept_changes_nothing(setup: Setup) -> None:
    setup.open()
    accepted, dismissed = setup.answer(), setup.answer()
    setup.edit(CURSOR, CURSOR, "a ")
    setup.recorder.partial(accepted, 2, PositionEncoding.UTF16)
    setup.recorder.dismissed(accepted)
    setup.recorder.dismissed(dismissed)
    setup.recorder.dismissed(dismissed)
    events = setup.events()
    assert [e.id for e in events if e.kind == "dismissed"] == [dismissed]


def test_an_unknown_id_is_ignored(setup: Setup) -> None:
    setup.recorder.shown("nobody-1")
    setup.recorder.accepted("nobody-2")
    setup.recorder.partial("nobody-3", 2, PositionEncoding.UTF16)
    assert setup.events() == []


def test_retained_characters_are_measured_after_the_delay_through_later_edits(
    setup: Setup,
) -> None:
    setup.open()
    suggestion_id = setup.answer()
    setup.edit(CURSOR, CURSOR, "a + b")
    setup.recorder.accepted(suggestion_id)
    setup.edit(0, 0, "import os\n")  # moves it
    moved = CURSOR + len("import os\n")
    setup.edit(moved + 2, moved + 5, "")  # deletes "+ b"
    setup.edit(moved + 2, moved + 2, "+ c")  # types after what is left: not part of it
    assert setup.recorder.pending_checks() == 1
    assert [t.delay for t in setup.timers.made] == [30]
    setup.timers.fire()
    (retained,) = [e for e in setup.events() if e.kind == "retained"]
    assert (retained.chars, retained.retained) == (5, 2)  # "a "
    assert retained.id == suggestion_id
    assert setup.recorder.pending_checks() == 0


def test_an_accept_told_before_its_edit_arrives_is_found_by_the_next_edit(
    setup: Setup,
) -> None:
    setup.open()
    suggestion_id = setup.answer()
    setup.recorder.accepted(suggestion_id)  # Neovim's changes may come a little later
    setup.edit(CURSOR, CURSOR, "a + b")
    setup.edit(CURSOR + 5, CURSOR + 5, "  # sum")
    setup.timers.fire()
    (retained,) = [e for e in setup.events() if e.kind == "retained"]
    assert retained.retained == 5


def test_a_suggestion_deleted_outright_retains_nothing(setup: Setup) -> None:
    setup.open()
    suggestion_id = setup.answer()
    setup.edit(CURSOR, CURSOR, "a + b")
    setup.recorder.accepted(suggestion_id)
    setup.edit(CURSOR, CURSOR + 5, "")
    setup.timers.fire()
    (retained,) = [e for e in setup.events() if e.kind == "retained"]
    assert retained.retained == 0


def test_a_closed_document_is_measured_as_it_was_left(setup: Setup) -> None:
    setup.open()
    suggestion_id = setup.answer()
    setup.edit(CURSOR, CURSOR, "a + b")
    setup.recorder.accepted(suggestion_id)
    setup.documents.pop(URI)  # closed…
    setup.open("")  # …and opened again with another text: not the one measured
    setup.recorder.document_edited(URI, None, 0)
    setup.timers.fire()
    (retained,) = [e for e in setup.events() if e.kind == "retained"]
    assert retained.retained == 5


def test_checks_still_pending_when_the_session_ends_are_measured_then(setup: Setup) -> None:
    setup.open()
    suggestion_id = setup.answer()
    setup.edit(CURSOR, CURSOR, "a + b")
    setup.recorder.partial(suggestion_id, 2, PositionEncoding.UTF16)
    setup.recorder.close()
    assert all(timer.cancelled for timer in setup.timers.made)
    (retained,) = [e for e in setup.events() if e.kind == "retained"]
    assert (retained.chars, retained.retained) == (2, 2)
    assert retained.after_s < 30


def test_generations_are_counted_for_the_model_of_the_next_answer(setup: Setup) -> None:
    setup.open()
    setup.generations[0] += 2  # two generations superseded before an answer
    suggestion_id = setup.answer()  # its own
    setup.answer(Suggestion(" + b", "type-through", QWEN.label, {"total_ms": 1.0}))
    setup.recorder.shown(suggestion_id)
    setup.generations[0] += 1  # a prefetch after the last answer
    setup.recorder.close()
    counts = [e.count for e in setup.events() if e.kind == "generations"]
    assert sum(counts) == 4


def test_the_log_is_private_and_holds_no_code(setup: Setup) -> None:
    setup.open()
    suggestion_id = setup.answer()
    setup.edit(CURSOR, CURSOR, "a + b")
    setup.recorder.accepted(suggestion_id)
    setup.timers.fire()
    setup.events()
    folder = stats_dir(setup.state)
    (file,) = list(folder.iterdir())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    written = file.read_text()
    assert "a + b" not in written and "add" not in written and "return" not in written


# -- the log on disk ------------------------------------------------------------------------

DAY = 86_400.0
NOW = 1_780_000_000.0


def shown(at: float, model: str = "m", language: str = "python") -> StatsEvent:
    return StatsEvent("shown", at, model, language, id=f"s-{at}", source="model", chars=3)


def test_old_days_are_removed_and_the_total_is_bounded(tmp_path: Path) -> None:
    log = StatsLog(tmp_path, keep_days=10, max_total_bytes=10_000)
    for days_ago in (30, 9, 8, 1):
        log.append([shown(NOW - days_ago * DAY)])
    assert len(log.files()) == 4
    log.prune(NOW)
    assert len(log.files()) == 3  # 30 days ago is gone
    with open(log.files()[0], "a") as padding:
        padding.write("x" * 20_000 + "\n")
    log.prune(NOW)
    assert len(log.files()) == 2  # the oldest went, to get under the total


def test_a_full_day_takes_no_more_events(tmp_path: Path) -> None:
    log = StatsLog(tmp_path, max_day_bytes=500)
    for second in range(10):
        log.append([shown(NOW + second)])
    (file,) = log.files()
    assert file.stat().st_size <= 500
    assert len(list(log.read())) == file.read_text().count("\n")


def test_reading_skips_torn_and_foreign_lines_and_respects_since(tmp_path: Path) -> None:
    log = StatsLog(tmp_path)
    log.append([shown(NOW - 5 * DAY), shown(NOW)])
    with open(log.files()[-1], "a") as out:
        out.write('{"v": 99, "e": "shown"}\nnot json\n{"v":1,"t":1,"e":"shown"')
    assert [e.time for e in log.read()] == [NOW - 5 * DAY, NOW]
    assert [e.time for e in log.read(since=NOW - DAY)] == [NOW]


def test_a_line_reads_back_as_the_event_it_was() -> None:
    event = StatsEvent(
        "retained", NOW, "m (local)", "rust", id="ab-3", chars=12, retained=7, after_s=30
    )
    assert StatsEvent.from_json(event.to_json()) == event


# -- the figures ----------------------------------------------------------------------------


def session_events() -> list[StatsEvent]:
    """A small session: three suggestions shown in Python (one accepted in full and partly
    deleted, one accepted in part, one dismissed) and a type-through one in Rust."""
    python = {"model": "qwen", "language": "python"}
    return [
        StatsEvent("generations", NOW, count=5, **python),
        StatsEvent("shown", NOW, id="a", source="model", latency_ms=100, chars=10, **python),
        StatsEvent("shown", NOW, id="b", source="model", latency_ms=300, chars=8, **python),
        StatsEvent("shown", NOW, id="c", source="type-through", latency_ms=2, chars=4, **python),
        StatsEvent("accepted", NOW, id="a", chars=10, **python),
        StatsEvent("partial", NOW, id="b", chars=3, **python),
        StatsEvent("partial", NOW, id="b", chars=5, **python),
        StatsEvent("dismissed", NOW, id="c", **python),
        StatsEvent("retained", NOW, id="a", chars=10, retained=6, after_s=30, **python),
        StatsEvent("retained", NOW, id="b", chars=5, retained=5, after_s=30, **python),
        StatsEvent("shown", NOW, "qwen", "rust", id="d", source="cache", latency_ms=1, chars=2),
    ]


def test_the_figures_per_model_and_language() -> None:
    python, rust = aggregate(session_events())
    assert (python.model, python.language, rust.language) == ("qwen", "python", "rust")
    assert python.shown == 3
    assert (python.accepted_full, python.accepted_partial, python.dismissed) == (1, 1, 1)
    assert python.acceptance_rate == pytest.approx(2 / 3)
    assert (python.accepted_chars, python.retained_chars, python.measured_chars) == (15, 11, 15)
    assert python.generations_per_accepted == 2.5
    assert (python.first_ms, python.type_through_ms) == ([100, 300], [2])
    assert rust.shown == 1 and rust.acceptance_rate == 0 and rust.generations_per_accepted is None


def test_the_total_adds_the_groups_up() -> None:
    everything = total(aggregate(session_events()))
    assert (everything.shown, everything.accepted, everything.generations) == (4, 2, 5)
    assert sorted(everything.type_through_ms) == [1, 2]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert (percentile(values, 50), percentile(values, 95)) == (10, 19)
    assert percentile([7.0], 95) == 7 and percentile([], 50) is None


def test_json_names_each_figure() -> None:
    python = aggregate(session_events())[0].to_json()
    assert python["acceptanceRate"] == 0.6667 and python["retentionRate"] == 0.7333
    assert python["latency"]["first"] == {"count": 2, "p50Ms": 100, "p95Ms": 300}
    assert python["generationsPerAccepted"] == 2.5


def test_the_text_report_shows_each_group_and_the_total(tmp_path: Path) -> None:
    text = format_text(aggregate(session_events()), 30, tmp_path)
    assert "qwen — python" in text and "qwen — rust" in text and "all together" in text
    assert "2 (67%): 1 in full, 1 in part; 1 dismissed" in text
    assert "11 of 15 measured (73%)" in text
    assert "p50 100 ms, p95 300 ms (2)" in text
    assert "2.50 (5 generations)" in text


def test_nothing_recorded_says_so(tmp_path: Path) -> None:
    assert "no suggestions recorded" in format_text([], 7, tmp_path)
    assert format_text([GroupStats("m", "python")], 0, tmp_path).count("–") >= 3


def test_the_command_reads_the_state_directory_and_the_days_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    log = StatsLog(stats_dir(tmp_path / "lsp-assist"))
    now = time.time()
    log.append([shown(now - 40 * DAY), shown(now - 2 * DAY, language="rust"), shown(now)])
    out = io.StringIO()
    assert run(argparse.Namespace(days=30, json=True), out) == 0
    figures = json.loads(out.getvalue())
    assert [(g["language"], g["shown"]) for g in figures["groups"]] == [("python", 1), ("rust", 1)]
    out = io.StringIO()
    run(argparse.Namespace(days=0, json=True), out)
    assert json.loads(out.getvalue())["total"]["shown"] == 3
