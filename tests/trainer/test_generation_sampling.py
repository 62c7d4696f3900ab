"""The engine's sampling: rows that sample alike share one tensor, each draws from its seed.

`_pick` chooses every running row's next token in one step of the batch. Rows with the
same parameters are sampled together; these tests check that this changes nothing a
row would get alone: its own seed's draws, only tokens its filters allow, in the
proportions of its distribution, and the repetition penalty of its own text.
"""

from __future__ import annotations

import random
from collections import Counter

import torch
from transformers import RepetitionPenaltyLogitsProcessor

from trainer.spec import GenerateParams, GenerationRequest
from trainer.workers.generation_engine import Sequence, _pick

VOCAB = 50


def row(params: GenerateParams, seed: int, seen: list[int]) -> Sequence:
    request = GenerationRequest("unused", "", params)
    return Sequence(seed, 0, seen[:1], 64, (), request, random.Random(seed), seen[1:])


MIXED = (
    GenerateParams(temperature=0.8, top_p=1.0, top_k=0, repetition_penalty=1.0),
    GenerateParams(temperature=1.5, top_p=0.9, top_k=5, repetition_penalty=1.0),
    GenerateParams(temperature=0.8, top_p=1.0, top_k=0, repetition_penalty=1.0),
    GenerateParams(temperature=0, repetition_penalty=1.3),
    GenerateParams(),  # the room's defaults: every filter and the penalty
)


def test_a_row_draws_the_same_tokens_alone_and_in_a_mixed_batch() -> None:
    steps = [
        torch.randn(len(MIXED), VOCAB, generator=torch.Generator().manual_seed(s))
        for s in range(20)
    ]

    def draws(together: bool) -> list[list[int]]:
        rows = [row(p, seed, [1, 2, 3][: seed % 3 + 1]) for seed, p in enumerate(MIXED)]
        picked: list[list[int]] = []
        for logits in steps:
            if together:
                picked.append(_pick(rows, logits))
            else:
                picked.append([_pick([r], logits[i : i + 1])[0] for i, r in enumerate(rows)])
            for r, token in zip(rows, picked[-1], strict=True):
                r.generated.append(token)
        return picked

    assert draws(together=False) == draws(together=True)


def test_draws_follow_the_filtered_distribution() -> None:
    logits = torch.tensor([[4.0, 3.0, 2.5, 2.0, 1.0] + [0.0] * (VOCAB - 5)])
    params = GenerateParams(temperature=1.0, top_k=3, top_p=1.0, repetition_penalty=1.0)
    counts: Counter[int] = Counter()
    rows = [row(params, seed, [0]) for seed in range(3000)]
    counts.update(_pick(rows, logits.expand(len(rows), -1)))
    kept = torch.softmax(logits[0, :3], dim=0).tolist()
    assert {0, 1, 2} == set(counts)  # the top 3 only
    for token, share in enumerate(kept):
        assert abs(counts[token] / len(rows) - share) < 0.03, (token, counts)


def test_the_repetition_penalty_is_each_rows_own() -> None:
    # Token 0 leads by a little: a row that has written it already picks token 1 instead.
    logits = torch.tensor([[2.0, 1.9] + [0.0] * (VOCAB - 2)] * 3)
    params = GenerateParams(temperature=0, repetition_penalty=1.5)
    histories = [[5, 0], [5, 6, 7, 8], [0, 1, 9]]
    rows = [row(params, seed, seen) for seed, seen in enumerate(histories)]
    one_by_one = [
        int(RepetitionPenaltyLogitsProcessor(1.5)(torch.tensor([seen]), logits[:1]).argmax())
        for seen in histories
    ]
    assert [1, 0, 0] == one_by_one
    assert one_by_one == _pick(rows, logits)
