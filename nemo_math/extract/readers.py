"""Readers of raw forum dumps, yielding one candidate per question with its solution posts, pre-filtered.

* StackExchange ``Posts.xml`` (the data dump of math.stackexchange.com / mathoverflow.net): streamed with
  ``lxml.etree.iterparse``, each ``<row>`` cleared once read, so the file's size does not matter. Questions
  (``PostTypeId=1``) are pre-filtered as they come; they and the answers (``PostTypeId=2``, listed long after
  their questions in the dump) go to a temporary SQLite file (stdlib) and are joined there, the accepted answer
  first, then by score: memory stays flat whatever the dump's size. ``Users.xml`` beside it, when present,
  gives the authors' display names for attribution (held in memory: a dict of names).
* AoPS threads as JSONL, one topic per line: ``topic_id``, ``category_id``, ``title``, ``posts`` (each with
  ``post_id``, ``poster_id``, ``username``, ``post_canonical``: BBCode with LaTeX). The first post is the
  question, the later ones are solutions.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from nemo_math.config import ConfigError
from nemo_math.extract.config import ForumSourceConfig, PrefilterConfig
from nemo_math.extract.text import bbcode_to_text, dedup_key, html_to_text, is_english
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
    """Text, language, length, image and cross-site exact-dedup filters with a count per outcome."""

    def __init__(self, cfg: PrefilterConfig):
        self.cfg = cfg
        self.counts: Counter = Counter()
        self.seen: set[str] = set()

    def question(self, text: str, has_image: bool) -> str | None:
        """The drop reason of a question's body text (title left out, so a post seen on two sites matches),
        or None to keep it (then its dedup key is remembered)."""
        self.counts["read"] += 1
        reason = None
        if has_image and self.cfg.drop_images:
            reason = "image"
        elif len(text) < self.cfg.min_chars:
            reason = "too_short"
        elif len(text) > self.cfg.max_chars:
            reason = "too_long"
        elif self.cfg.english_only and not is_english(text):
            reason = "not_english"
        else:
            key = dedup_key(text)
            if key in self.seen:
                reason = "duplicate"
            self.seen.add(key)
        self.counts[reason or "kept"] += 1
        return reason


def _source_name(source: ForumSourceConfig) -> str:
    return source.name or ("AoPS" if source.kind == "aops" else "StackExchange-Math")


def read_source(source: ForumSourceConfig, prefilter: Prefilter) -> Iterator[dict[str, Any]]:
    if source.kind == "stackexchange":
        yield from read_stackexchange(source, prefilter)
    elif source.kind == "aops":
        yield from read_aops(source, prefilter)
    else:
        raise ConfigError(f"extract.sources: kind: expected stackexchange or aops, got {source.kind!r}")


def _users(posts: Path) -> dict[str, str]:
    users_xml = posts.with_name("Users.xml")
    names: dict[str, str] = {}
    if users_xml.exists():
        for _, row in etree.iterparse(str(users_xml), tag="row"):
            names[row.get("Id")] = row.get("DisplayName") or ""
            row.clear()
    return names


def read_stackexchange(source: ForumSourceConfig, prefilter: Prefilter) -> Iterator[dict[str, Any]]:
    path = Path(source.path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such StackExchange Posts.xml")
    names, name, site = _users(path), _source_name(source), source.site
    with tempfile.TemporaryDirectory(prefix="nemo-math-extract-") as tmp:
        db = sqlite3.connect(Path(tmp) / "posts.sqlite")
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                         "CREATE TABLE q (id INTEGER PRIMARY KEY, accepted INTEGER, doc TEXT);"
                         "CREATE TABLE a (parent INTEGER, id INTEGER, score INTEGER, body TEXT);")
        questions, answers = [], []
        try:
            for _, row in etree.iterparse(str(path), tag="row", huge_tree=True):
                kind, post_id = row.get("PostTypeId"), row.get("Id")
                if post_id is None or not post_id.isdigit():
                    raise RecordError("Id", "missing or not an integer", path=str(path), line=row.sourceline)
                if kind == "1":
                    doc = _question(row, prefilter, site, name, names)
                    if doc is not None:
                        questions.append((int(post_id), int(row.get("AcceptedAnswerId") or 0), json.dumps(doc)))
                elif kind == "2" and (row.get("ParentId") or "").isdigit():
                    answers.append((int(row.get("ParentId")), int(post_id), int(row.get("Score") or 0),
                                    row.get("Body") or ""))
                row.clear()
                while row.getprevious() is not None:  # constant memory: drop the rows already read
                    del row.getparent()[0]
                if len(questions) + len(answers) >= SPOOL_ROWS:
                    _spool(db, questions, answers)
        except etree.XMLSyntaxError as err:
            raise RecordError("<xml>", str(err), path=str(path), line=err.lineno) from None
        _spool(db, questions, answers)
        db.execute("CREATE INDEX a_parent ON a (parent)")
        cfg = prefilter.cfg
        for qid, accepted, doc in db.execute("SELECT id, accepted, doc FROM q ORDER BY id"):
            question = json.loads(doc)
            rows = db.execute("SELECT id, score, body FROM a WHERE parent = ? AND (id = ? OR score >= ?) "
                              "ORDER BY id = ? DESC, score DESC, id LIMIT ?",
                              (qid, accepted, cfg.min_answer_score, accepted, cfg.max_answers)).fetchall()
            question["answers"] = [{"id": str(aid), "score": score, "accepted": aid == accepted,
                                    "text": html_to_text(body)[0]} for aid, score, body in rows]
            yield question
        db.close()


SPOOL_ROWS = 10_000  # posts buffered before each write to the on-disk join table


def _spool(db: sqlite3.Connection, questions: list, answers: list) -> None:
    """Move the buffered posts to SQLite: the dump lists answers long after their questions, so the join is
    done on disk, keeping memory flat whatever the dump's size."""
    db.executemany("INSERT INTO q VALUES (?, ?, ?)", questions)
    db.executemany("INSERT INTO a VALUES (?, ?, ?, ?)", answers)
    db.commit()
    questions.clear()
    answers.clear()


def _question(row, prefilter: Prefilter, site: str, name: str, names: dict[str, str]) -> dict[str, Any] | None:
    """A question row as a candidate (without answers), or None when a pre-filter drops it."""
    text, image = html_to_text(row.get("Body") or "")
    if prefilter.question(text, image) is not None:
        return None
    title, post_id, user = (row.get("Title") or "").strip(), row.get("Id"), row.get("OwnerUserId")
    return {"id": f"{site}/{post_id}", "data_source": name, "question": f"{title}\n\n{text}" if title else text,
            "url": f"https://{site}/questions/{post_id}",
            "user_url": f"https://{site}/users/{user}" if user else None,
            "user_name": names.get(user or "") or row.get("OwnerDisplayName"),
            "license": se_license(row.get("CreationDate") or ""),
            "metadata": {"tags": row.get("Tags") or "", "score": int(row.get("Score") or 0)}}


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
