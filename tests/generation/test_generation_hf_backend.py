"""The local transformers backend: a tiny random Qwen3 with the real Qwen3 tokenizer, served over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from generation_helpers import build_chain_model

from nemo_math.generation.client import GenerationClient
from nemo_math.generation.config import ClientConfig
from nemo_math.generation.harmony import ASSISTANT_START, CALL, RETURN, initial_messages, render_prompt
from nemo_math.generation.server import HFBackend, ServerThread, make_app
from nemo_math.generation.solve import SolveSettings, solve
from nemo_math.generation.transports import ChatTransport, CompletionsTransport
from nemo_math.records import Problem


@pytest.mark.slow
def test_tiny_hf_model_serves_both_routes_and_a_trajectory(qwen3_tokenizer_dir):
    backend = HFBackend(None, str(qwen3_tokenizer_dir))
    problem = Problem(id="p", problem="What is $1+1$?", expected_answer="2")
    with ServerThread(make_app(backend, "tiny-qwen3")) as url:
        async def go():
            async with GenerationClient(ClientConfig(base_urls=[url], model="tiny-qwen3")) as client:
                raw = await client.complete("Hello", max_tokens=6, seed=1)
                again = await client.complete("Hello", max_tokens=6, seed=1)
                chat = await client.chat([{"role": "user", "content": "Hi"}], max_tokens=4, seed=2)
                traj = await solve(problem, "low", False, 0, CompletionsTransport(client), None,
                                   SolveSettings(max_tokens=8, model="tiny-qwen3"))
                chat_traj = await solve(problem, "low", False, 0, ChatTransport(client), None,
                                        SolveSettings(max_tokens=8))
                return raw, again, chat, traj, chat_traj
        raw, again, chat, traj, chat_traj = asyncio.run(go())
    assert raw.completion_tokens == 6 and raw.finish_reason == "length" and raw.prompt_tokens == 1
    assert raw.text == again.text  # seeded sampling
    assert chat.completion_tokens == 4 and chat.prompt_tokens > 4
    assert traj.finish_reason == "length" and traj.completion_tokens == 8 and traj.model == "tiny-qwen3"
    assert chat_traj.finish_reason == "length" and chat_traj.completion_tokens == 8


@pytest.mark.slow
def test_hf_backend_keeps_harmony_tokens_so_stop_strings_match(tmp_path):
    # issue 13: decoding with skip_special_tokens=True dropped <|channel|> and <|call|>, so the stop never matched
    # and every turn ran to the length limit as one unlabelled analysis blob
    build_chain_model(tmp_path, ASSISTANT_START, "<|channel|>analysis to=python<|message|>print(7)<|call|> zz")
    with ServerThread(make_app(HFBackend(str(tmp_path)), "chain")) as url:
        async def go():
            async with GenerationClient(ClientConfig(base_urls=[url], model="chain")) as client:
                raw = await client.complete(render_prompt(initial_messages("1+1", "low", True)), max_tokens=40,
                                            temperature=0.0, stop=[CALL, RETURN])
                turn = await CompletionsTransport(client, temperature=0.0).step(
                    initial_messages("1+1", "low", True), with_tool=True, max_tokens=40, seed=None)
                return raw, turn
        raw, turn = asyncio.run(go())
    assert raw.text == "<|channel|>analysis to=python<|message|>print(7)" and raw.finish_reason == "stop"
    assert turn.finish == "call"
    assert [(m["channel"], m["recipient"], m["content"]) for m in turn.messages] == [("analysis", "python", "print(7)")]
