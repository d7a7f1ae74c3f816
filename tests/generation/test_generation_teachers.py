"""Multi-teacher generation (``generate.teachers``): validation, the weighted per-job draw, and the real stage
routing jobs to two scripted teacher servers over HTTP, resuming exactly once per teacher."""

from __future__ import annotations

import json
import socket
from collections import Counter
from pathlib import Path

import pytest
import yaml
from generation_helpers import server_process

from nemo_math.cli import main as cli
from nemo_math.config import ConfigError, load_config
from nemo_math.generation.jobs import Job, select_shard
from nemo_math.generation.teachers import assign, resolve_teachers, split
from nemo_math.io import is_done, load_records, write_records
from nemo_math.problems.synthetic import generate
from nemo_math.records import Trajectory


def teachers_cfg(*entries: dict):
    return load_config(overrides=[f"generate.teachers={json.dumps(list(entries))}"])


def test_no_teachers_is_one_teacher_named_after_the_model():
    cfg = load_config(overrides=["generate.client.model=my-teacher"])
    (teacher,) = resolve_teachers(cfg)
    assert (teacher.name, teacher.share) == ("my-teacher", 1.0) and teacher.cfg is cfg
    assert all(assign(f"p{i}/low/tool/0", [teacher]) is teacher for i in range(100))


def test_teachers_overlay_the_shared_client_and_normalise_weights():
    cfg = teachers_cfg({"name": "a", "weight": 3, "client": {"model": "m1", "base_urls": ["http://h1:8000/v1"]}},
                       {"weight": 1, "client": {"model": "m2", "max_in_flight": 4}})
    a, b = resolve_teachers(cfg)
    assert (a.name, b.name) == ("a", "m2")  # an unnamed teacher is named after its model
    assert (a.share, b.share) == (0.75, 0.25)
    assert a.cfg.generate.client.base_urls == ["http://h1:8000/v1"] and a.cfg.generate.client.model == "m1"
    assert b.cfg.generate.client.base_urls == cfg.generate.client.base_urls  # shared, not overridden
    assert b.cfg.generate.client.max_in_flight == 4 and a.cfg.generate.client.max_in_flight == 512
    assert a.cfg.generate.teachers == [] and a.cfg.generate.output_dir == cfg.generate.output_dir


@pytest.mark.parametrize(("entries", "message"), [
    ([{"client": {"model": "a"}}, {"client": {"model": "b"}, "weight": 0}], "generate.teachers[1].weight: 0.0"),
    ([{"client": {"model": "a"}, "weight": -2}], "generate.teachers[0].weight: -2.0"),
    ([{"client": {"model": "a"}, "weight": float("nan")}], "generate.teachers[0].weight: nan"),
    ([{"client": {"model": "a"}}, {"name": "x"}, {"client": {"model": "a"}}], "generate.teachers[2].name: 'a'"),
    ([{"client": {"modle": "a"}}], "generate.teachers[0].client.modle"),
    ([{"client": {"max_in_flight": "many"}}], "generate.teachers[0].client.max_in_flight"),
    ([{"local_server": {"backend_": "scripted"}}], "generate.teachers[0].local_server.backend_"),
    ([{"client": {"model": ""}}], "generate.teachers[0].name: empty"),
])
def test_bad_teachers_name_the_key(entries, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve_teachers(teachers_cfg(*entries))


def test_the_draw_is_weighted_stable_and_independent_of_shards():
    a, b, c = resolve_teachers(teachers_cfg({"name": "a", "weight": 2}, {"name": "b", "weight": 1},
                                            {"name": "c", "weight": 1}))
    jobs = [Job(Trajectory.make_job_id(f"p{i}", mode, tool, seed))
            for i in range(500) for mode in ("high", "low") for tool in (True, False) for seed in range(2)]
    realised = split(jobs, [a, b, c])
    assert sum(s["jobs"] for s in realised.values()) == len(jobs) == 4000
    for teacher in (a, b, c):  # 4000 draws: within 3 points of the weight share
        assert abs(realised[teacher.name]["job_share"] - teacher.share) < 0.03, realised
    # a job's teacher depends on its id and the teacher list only: not on the other jobs nor on the shard
    alone = {job.id: assign(job.id, [a, b, c]).name for job in jobs[::7]}
    assert alone == {job.id: assign(job.id, [a, b, c]).name for job in reversed(jobs[::7])}
    for shard in range(2):
        per_shard = split(select_shard(jobs, shard, 2), [a, b, c])
        assert abs(per_shard["a"]["job_share"] - 0.5) < 0.04, per_shard


def test_old_trajectories_without_a_teacher_read_as_their_model():
    data = {"job_id": "p/low/notool/0", "problem_id": "p", "problem": "1+1?", "mode": "low", "with_tool": False,
            "seed": 0, "messages": [], "model": "gpt-oss-120b"}
    assert Trajectory.from_dict(data).teacher == "gpt-oss-120b"
    assert Trajectory.from_dict({**data, "teacher": "t2"}).teacher == "t2"


def dead_url() -> str:
    """A URL nothing listens on (the port was bound and released; connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def write_teachers(path: Path, strong_url: str, weak_url: str) -> Path:
    path.write_text(yaml.safe_dump({"generate": {"teachers": [
        {"name": "strong", "weight": 3, "client": {"base_urls": [strong_url], "model": "strong-model"}},
        {"name": "weak", "weight": 1, "client": {"base_urls": [weak_url], "model": "weak-model"}}]}}))
    return path


def test_jobs_go_to_their_teachers_and_resume_exactly_once_per_teacher(tmp_path):
    problems = tmp_path / "problems.jsonl"
    write_records(problems, generate(4, seed=3))
    out = tmp_path / "run" / "generate"
    argv = ["generate", "--quiet", f"run_dir={tmp_path / 'run'}", f"generate.input={problems}",
            "generate.tools=[false]", "generate.modes=[low,high]", "generate.num_samples=4",
            "generate.client.max_retries=1", "generate.client.backoff_initial_s=0.01"]
    # the strong teacher knows the problems; the weak one does not (it guesses)
    with server_process("--backend", "scripted", "--problems", str(problems)) as strong:
        # first run: the weak teacher's server is down, so the run stops (a dead server ends it at once); only
        # strong jobs can have finished, how many depends on the machine's speed
        config = write_teachers(tmp_path / "teachers.yaml", strong, dead_url())
        assert cli([*argv[:2], "--config", str(config), *argv[2:]]) == 1
        first = load_records(out, Trajectory)
        assert {t.teacher for t in first} <= {"strong"} and not is_done(out)
        with server_process("--backend", "scripted") as weak:
            config = write_teachers(tmp_path / "teachers.yaml", strong, weak)
            assert cli([*argv[:2], "--config", str(config), *argv[2:]]) == 0
    trajs = load_records(out, Trajectory)
    assert len(trajs) == 4 * 2 * 4 == len({t.job_id for t in trajs})  # each job once, none redone
    final = {t.job_id: t.to_dict() for t in trajs}
    assert all(final[t.job_id] == t.to_dict() for t in first)  # what the first run finished was kept as it was
    teachers = resolve_teachers(load_config(files=[config]))
    for t in trajs:
        assert t.teacher == assign(t.job_id, teachers).name
        assert t.model == f"{t.teacher}-model" and t.finish_reason == "final"
    counts = Counter(t.teacher for t in trajs)
    assert counts["strong"] > counts["weak"] > 0
    done = json.loads((out / "_SUCCESS.json").read_text())
    assert {name: s["jobs"] for name, s in done["teachers"].items()} == counts
    assert done["teachers"]["strong"]["weight_share"] == 0.75
    # the requests really went to different servers: only the teacher that knows the problems answers them
    right = Counter(t.teacher for t in trajs if t.final_text.endswith(f"\\boxed{{{t.expected_answer}}}"))
    assert right["strong"] >= 0.5 * counts["strong"] and right["weak"] <= 0.1 * counts["weak"]
