"""Readers of raw forum dumps, yielding one candidate per question with its solution posts, pre-filtered.

* StackExchange ``Posts.xml`` (the data dump of math.stackexchange.com / mathoverflow.net): streamed through an
  lxml parser target that keeps only each ``<row>``'s attributes, a block at a time, so the file's size does
  not matter (no element tree: parsing takes a fifth less time than with ``iterparse`` and clearing the rows; a
  line-based reader of our own, with regexes for the attributes, took more time than either). Questions
  (``PostTypeId=1``) are pre-filtered as they come (the cheap checks before the HTML -> text conversion); they,
  the answers (``PostTypeId=2``, listed long after their questions in the dump) and ``Users.xml`` beside it
  (the authors' display names for attribution), when present, go to a private temporary SQLite file (stdlib)
  and are joined there in one pass: memory stays flat whatever the dump's size. Only the answers kept (the
  accepted one first, then by score) are converted to text.
* AoPS threads as JSONL, one topic per line: ``topic_id``, ``category_id``, ``title``, ``posts`` (each with
  ``post_id``, ``poster_id``, ``username``, ``post_canonical``: BBCode with LaTeX). The first post is the
  question, the later ones are solutions.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import groupby, islice
from operator import itemgetter
from pathlib import Path
from typing import Any

from lxml import etree

from nemo_math.config import ConfigError
from nemo_math.extract.config import ForumSourceConfig, PrefilterConfig
from nemo_math.extract.text import bbcode_to_text, dedup_key, has_image, html_to_text, is_english
from nemo_math.io import iter_dicts
from nemo_math.records import RecordError

AOPS = "https://artofproblemsolving.com/community"
AOPS_LICENSE = "CC BY 4.0"


def se_license(creation_date: str) -> str:
    """The CC BY-SA version StackExchange content falls under by its posting date."""
    if creation_date < "2011-04-08":
        return "CC BY-SA 2.5"
    return "CC BY-SA 3.0" if creation_date < "2018-05-02" else "CC BY-SA 4.0"


class Prefilter:
    """Text, language, length, image and cross-site exact-dedup filters with a count per outcome.

    The dedup keys live in a private temporary SQLite file (``connect("")``, deleted on close), not a set: the
    stage's memory stays flat whatever the number of questions."""

    def __init__(self, cfg: PrefilterConfig):
        self.cfg = cfg
        self.counts: Counter = Counter()
        self._seen = sqlite3.connect("")
        self._seen.execute("CREATE TABLE seen (key BLOB PRIMARY KEY) WITHOUT ROWID")

    def question(self, text: str, has_image: bool) -> str | None:
        """The drop reason of a question's body text (title left out, so a post seen on two sites matches),
        or None to keep it (then its dedup key is remembered)."""
        self.counts["read"] += 1
        cfg, reason = self.cfg, None
        if has_image and cfg.drop_images:
            reason = "image"
        elif len(text) < cfg.min_chars:
            reason = "too_short"
        elif len(text) > cfg.max_chars:
            reason = "too_long"
        elif cfg.english_only and not is_english(text):
            reason = "not_english"
        elif not self._seen.execute("INSERT OR IGNORE INTO seen VALUES (?)", (dedup_key(text),)).rowcount:
            reason = "duplicate"
        self.counts[reason or "kept"] += 1
        return reason

    def html_question(self, body: str) -> str | None:
        """The text of an HTML question body it keeps, else None. An image or a body shorter than ``min_chars``
        (its text can only be shorter) is dropped before the HTML -> text conversion, the costly step."""
        image = has_image(body)
        if (image and self.cfg.drop_images) or len(body) < self.cfg.min_chars:
            self.question(body, image)
            return None
        text = html_to_text(body)
        return None if self.question(text, image) else text


def _source_name(source: ForumSourceConfig) -> str:
    return source.name or ("AoPS" if source.kind == "aops" else "StackExchange-Math")


def read_source(source: ForumSourceConfig, prefilter: Prefilter) -> Iterator[dict[str, Any]]:
    if source.kind == "stackexchange":
        yield from read_stackexchange(source, prefilter)
    elif source.kind == "aops":
        yield from read_aops(source, prefilter)
    else:
        raise ConfigError(f"extract.sources: kind: expected stackexchange or aops, got {source.kind!r}")


SPOOL_ROWS = 1000  # rows buffered before each write to the on-disk join tables (bounds the buffer)
SCHEMA = """PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
CREATE TABLE q (id INTEGER PRIMARY KEY, accepted INTEGER, title TEXT, text TEXT, user TEXT, owner_name TEXT,
                created TEXT, tags TEXT, score INTEGER);
CREATE TABLE a (parent INTEGER, id INTEGER, score INTEGER, body TEXT);
CREATE TABLE u (id TEXT PRIMARY KEY, name TEXT) WITHOUT ROWID;"""
# each question's answers, the accepted one first, then by score: SQLite sorts within a question only
JOIN = """SELECT q.id, q.accepted, q.title, q.text, q.user, coalesce(nullif(u.name, ''), q.owner_name), q.created,
       q.tags, q.score, a.id, a.score, a.body
FROM q LEFT JOIN u ON u.id = q.user LEFT JOIN a ON a.parent = q.id AND (a.id = q.accepted OR a.score >= ?)
ORDER BY q.id, a.id = q.accepted DESC, a.score DESC, a.id"""


def read_stackexchange(source: ForumSourceConfig, prefilter: Prefilter) -> Iterator[dict[str, Any]]:
    """Kept questions in ``Id`` order with their best solution posts (see the module docstring)."""
    path = Path(source.path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such StackExchange Posts.xml")
    db = sqlite3.connect("")  # a private temporary file, deleted on close
    try:
        db.executescript(SCHEMA)
        users = path.with_name("Users.xml")
        if users.exists():
            _spool(db, "u", ((row.get("Id"), row.get("DisplayName")) for row in _rows(users)))
        _spool(db, "q", _questions(path, db, prefilter))
        db.execute("CREATE INDEX a_parent ON a (parent)")
        yield from _candidates(db, source, prefilter.cfg)
    finally:
        db.close()


class _RowAttributes:
    """lxml parser target: the attributes of each ``<row>`` element as it ends (``iterparse``'s order)."""

    def __init__(self):
        self.rows: list[dict[str, str]] = []
        self._open: list[dict[str, str]] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._open.append(attrib)

    def end(self, tag: str) -> None:
        attrib = self._open.pop()
        if tag == "row":
            self.rows.append(attrib)

    def close(self) -> None:  # the parser's close() returns what this does
        pass


READ_BYTES = 32768  # fed to the parser at a time, as iterparse reads: the same XML errors, after the same rows


def _rows(path: Path) -> Iterator[dict[str, str]]:
    """The attributes of the ``<row>`` elements of a dump file, a block at a time: constant memory."""
    target = _RowAttributes()
    # iterparse's parser; events=(): no event list besides the target, which would grow with the file
    parser = etree.XMLPullParser(events=(), target=target, base_url=str(path), huge_tree=True)
    try:
        with open(path, "rb") as fh:
            while block := fh.read(READ_BYTES):
                parser.feed(block)
                yield from target.rows
                target.rows.clear()
        parser.close()
    except etree.XMLSyntaxError as err:  # the rows of the block in error are dropped, as iterparse does
        raise RecordError("<xml>", str(err), path=str(path), line=err.lineno) from None
    yield from target.rows


def _row_line(path: Path, index: int) -> int | None:
    """The line of the ``index``-th row of ``_rows(path)``, for error messages (attributes carry no line)."""
    for n, (_, row) in enumerate(etree.iterparse(str(path), tag="row", huge_tree=True)):
        if n == index:
            return row.sourceline
        row.clear()
        while row.getprevious() is not None:  # drop the emptied rows already passed: constant memory
            del row.getparent()[0]
    return None


def _questions(path: Path, db: sqlite3.Connection, prefilter: Prefilter) -> Iterator[tuple]:
    """The kept questions of ``Posts.xml`` as ``q`` rows; answers go to the ``a`` table on the way (the dump
    lists them long after their questions, so the join is done on disk)."""
    answers: list[tuple] = []
    for index, row in enumerate(_rows(path)):
        get = row.get
        kind, post_id = get("PostTypeId"), get("Id")
        if post_id is None or not post_id.isdigit():
            raise RecordError("Id", "missing or not an integer", path=str(path), line=_row_line(path, index))
        if kind == "1":
            text = prefilter.html_question(get("Body") or "")
            if text is not None:
                yield (int(post_id), int(get("AcceptedAnswerId") or 0), (get("Title") or "").strip(), text,
                       get("OwnerUserId"), get("OwnerDisplayName"), get("CreationDate") or "", get("Tags") or "",
                       int(get("Score") or 0))
        elif kind == "2":
            parent = get("ParentId") or ""
            if parent.isdigit():
                answers.append((int(parent), int(post_id), int(get("Score") or 0), get("Body") or ""))
                if len(answers) >= SPOOL_ROWS:
                    _spool(db, "a", answers)
                    answers.clear()
    _spool(db, "a", answers)


def _spool(db: sqlite3.Connection, table: str, rows: Iterable[tuple]) -> None:
    """Insert ``rows`` in batches of ``SPOOL_ROWS`` (``rows`` may be a generator: never all in memory)."""
    it = iter(rows)
    while batch := list(islice(it, SPOOL_ROWS)):
        db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(batch[0]))})", batch)
    db.commit()


def _candidates(db: sqlite3.Connection, source: ForumSourceConfig, cfg: PrefilterConfig) -> Iterator[dict]:
    """One candidate per kept question: the accepted answer first, then by score, at most ``max_answers``."""
    name, site = _source_name(source), source.site
    for qid, group in groupby(db.execute(JOIN, (cfg.min_answer_score,)), key=itemgetter(0)):
        rows = list(islice(group, cfg.max_answers))  # the best first (see JOIN)
        _, accepted, title, text, user, user_name, created, tags, score = rows[0][:9]
        posts = [row[9:] for row in rows if row[9] is not None]
        yield {"id": f"{site}/{qid}", "data_source": name, "question": f"{title}\n\n{text}" if title else text,
               "answers": [{"id": str(aid), "score": ascore, "accepted": aid == accepted,
                            "text": html_to_text(body)} for aid, ascore, body in posts],
               "url": f"https://{site}/questions/{qid}",
               "user_url": f"https://{site}/users/{user}" if user else None, "user_name": user_name,
               "license": se_license(created), "metadata": {"tags": tags, "score": score}}


def read_aops(source: ForumSourceConfig, prefilter: Prefilter) -> Iterator[dict[str, Any]]:
    name = _source_name(source)
    for file, line, row in iter_dicts(source.path):
        posts = row.get("posts")
        if not isinstance(posts, list) or not posts or not all(isinstance(p, dict) for p in posts):
            raise RecordError("posts", "expected a non-empty list of post objects", path=file, line=line)
        for field in ("topic_id",):
            if field not in row:
                raise RecordError(field, "required field is missing", path=file, line=line)
        first = posts[0]
        if not isinstance(first.get("post_canonical"), str):
            raise RecordError("posts[0].post_canonical", "expected a string", path=file, line=line)
        text, image = bbcode_to_text(first["post_canonical"])
        if prefilter.question(text, image) is not None:
            continue
        topic, category = row["topic_id"], row.get("category_id")
        answers = [{"id": str(p.get("post_id")), "score": 0, "accepted": False,
                    "text": bbcode_to_text(p.get("post_canonical") or "")[0]} for p in posts[1:]]
        user = first.get("poster_id")
        yield {"id": f"aops/{topic}", "data_source": name, "question": text,
               "answers": answers[: prefilter.cfg.max_answers],
               "url": f"{AOPS}/c{category}h{topic}" if category else f"{AOPS}/h{topic}",
               "user_url": f"{AOPS}/user/{user}" if user else None, "user_name": first.get("username"),
               "license": AOPS_LICENSE, "metadata": {"title": row.get("title") or ""}}
