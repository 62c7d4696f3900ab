"""Streamed chat and text completions: OpenAI's chunks, the finish reason, the usage chunk."""

from openai import OpenAI

from tests.openai_api.conftest import Trained

ASK = [{"role": "user", "content": "the cat sat on"}]


def test_a_streamed_chat_is_the_same_answer_in_chunks(client: OpenAI, trained: Trained) -> None:
    model = trained.job.fine_tuned_model
    assert model is not None
    whole = client.chat.completions.create(model=model, messages=ASK, max_tokens=8, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=ASK,
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "assistant" == chunks[0].choices[0].delta.role
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert whole.choices[0].message.content == text
    ends = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [whole.choices[0].finish_reason] == ends
    assert [] == chunks[-1].choices  # the usage chunk comes last, without choices
    assert whole.usage == chunks[-1].usage
    assert {chunks[0].id} == {c.id for c in chunks}


def test_a_streamed_completion_without_usage_ends_with_a_reason(
    client: OpenAI, trained: Trained
) -> None:
    model = trained.job.fine_tuned_model
    assert model is not None
    chunks = list(
        client.completions.create(model=model, prompt="the dog", max_tokens=5, stream=True)
    )
    assert all(c.object == "text_completion" and c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_only_a_real_beginning_of_a_stop_string_is_held_back() -> None:
    from trainer.workers.generation_engine import partial_stop

    stops = ("<|im_end|>", "\n\n")
    held = [partial_stop(text, stops) for text in ("hello", "hello <|im", "hello\n", "a<|x", "")]
    assert [0, 4, 1, 0, 0] == held
