"""Continuous batching in the generation child: every active sequence steps together.

Sequences are grouped by (base, adapter): one group is one batch, left-padded, with one
attention mask and one key/value cache. Each `step()` first prefills the requests that
arrived since the last step (together, per group) and merges them into their group's
batch, then advances every batch by one token. A finished or cancelled sequence leaves
its batch at once (its cache row is dropped), so a long answer never holds a short one
back and a request that arrives mid-way joins at the next step instead of waiting.

`step()` returns events for the parent: `(request_id, "piece", Piece)`,
`(request_id, "done", GenerationResult)` and `(request_id, "error", line)`.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Protocol

import torch
from transformers import (
    DynamicCache,
    DynamicLayer,
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from trainer.spec import Choice, GenerationRequest, GenerationResult, Piece
from trainer.workers.generation_child import (
    LoadedBase,
    ModelCache,
    base_and_adapter,
    build_prompt,
    count_tokens,
    cut_at_stop,
    eos_ids,
)
from trainer.workers.heartbeat import Heartbeat

Event = tuple[int, str, object]


@dataclass
class Sequence:
    """One answer being written: its tokens, sampling state and what was sent."""

    request_id: int
    index: int
    prompt: list[int]
    max_new: int
    stops: tuple[str, ...]
    request: GenerationRequest
    rng: random.Random  # its own draws: a fixed seed repeats whatever shares the batch
    generated: list[int] = field(default_factory=list)
    sent: str = ""
    finish: str | None = None
    quiet: bool = False  # only the result is sent (a whole answer, not a stream)

    @property
    def greedy(self) -> bool:
        return self.request.params.temperature <= 0


@dataclass
class Pending:
    """A request being answered: its sequences and the result's parts."""

    request: GenerationRequest
    loaded: LoadedBase
    adapter: str | None
    sequences: list[Sequence]
    prompt_tokens: int
    dropped: int


@dataclass
class Batch:
    """The running sequences of one (base, adapter) group and their shared cache."""

    loaded: LoadedBase
    adapter: str | None
    rows: list[Sequence]
    cache: DynamicCache
    mask: torch.Tensor  # (rows, cached length): 0 on left padding
    positions: torch.Tensor  # (rows,): position id of each row's next token


class Engine:
    """The batching loop's state: requests, waiting sequences and running batches."""

    def __init__(self, cache: ModelCache) -> None:
        self._models = cache
        self._requests: dict[int, Pending] = {}
        self._waiting: list[Sequence] = []
        self._batches: dict[tuple[str, str | None], Batch] = {}

    @property
    def idle(self) -> bool:
        """Nothing to step: the serving loop may block on the pipe."""
        return not self._requests

    @property
    def active(self) -> int:
        """Sequences being written or waiting to be prefilled."""
        return sum(len(p.sequences) for p in self._requests.values())

    def submit(self, request_id: int, request: GenerationRequest, *, quiet: bool = False) -> None:
        """Queue a request; it is prefilled at the next step. Raises on a bad model.

        A `quiet` request sends no pieces, only its result: a whole answer needs none,
        and a message per token costs the parent a wake-up per token.
        """
        base_dir, adapter_dir = base_and_adapter(request)
        loaded = self._models.base(base_dir)
        adapter = loaded.adapter(adapter_dir) if adapter_dir else None
        prompt = build_prompt(loaded, request)
        seed = request.params.seed
        sequences = []
        for index in range(max(1, request.n)):
            # A fixed seed is repeatable; answer i of n uses seed + i so they differ.
            rng = random.Random((seed + index) if seed is not None else None)
            sequences.append(
                Sequence(
                    request_id,
                    index,
                    prompt.ids,
                    prompt.max_new,
                    prompt.stops,
                    request,
                    rng,
                    quiet=quiet,
                )
            )
        self._requests[request_id] = Pending(
            request, loaded, adapter, sequences, len(prompt.ids), prompt.dropped
        )
        self._waiting.extend(sequences)

    def cancel(self, request_id: int) -> None:
        """Forget a request (its client is gone): its rows leave their batch now."""
        if self._requests.pop(request_id, None) is None:
            return
        self._waiting = [s for s in self._waiting if s.request_id != request_id]
        for key, batch in list(self._batches.items()):
            self._keep(key, batch, [s for s in batch.rows if s.request_id != request_id])

    def step(self) -> list[Event]:
        """Prefill what arrived, advance every batch by one token; the events to send."""
        return self.admit() + self.advance()

    def admit(self) -> list[Event]:
        """Prefill the requests that arrived (together, per group): their first tokens."""
        events: list[Event] = []
        waiting, self._waiting = self._waiting, []
        groups: dict[tuple[str, str | None], list[Sequence]] = {}
        for sequence in waiting:
            pending = self._requests[sequence.request_id]
            groups.setdefault((pending.loaded.key, pending.adapter), []).append(sequence)
        for key, sequences in groups.items():
            try:
                self._prefill(key, sequences, events)
            except Exception as exc:  # out of memory, a broken model: these requests fail
                self._fail(sequences, exc, events)
        return events

    def advance(self) -> list[Event]:
        """One more token for every running sequence."""
        events: list[Event] = []
        for key, batch in list(self._batches.items()):
            try:
                self._decode(key, events)
            except Exception as exc:  # the batch's cache is suspect: all its rows fail
                self._batches.pop(key, None)
                self._fail(batch.rows, exc, events)
        return events

    # ---- stepping ----------------------------------------------------------------------

    def _fail(self, rows: list[Sequence], exc: Exception, events: list[Event]) -> None:
        from trainer.workers.process import one_line

        for request_id in dict.fromkeys(s.request_id for s in rows):
            if request_id in self._requests:
                self.cancel(request_id)
                events.append((request_id, "error", one_line(exc)))

    def _prefill(
        self, key: tuple[str, str | None], sequences: list[Sequence], events: list[Event]
    ) -> None:
        pending = self._requests[sequences[0].request_id]
        loaded = pending.loaded
        device = loaded.model.device
        width = max(len(s.prompt) for s in sequences)
        ids = torch.zeros((len(sequences), width), dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, width - len(sequence.prompt) :] = torch.tensor(sequence.prompt)
            mask[row, width - len(sequence.prompt) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=loaded.model.config)
        logits = self._forward(loaded, pending.adapter, ids, mask, positions, cache)
        fresh = Batch(loaded, pending.adapter, sequences, cache, mask, positions[:, -1] + 1)
        self._advance(key, fresh, logits, events, merge=True)

    def _decode(self, key: tuple[str, str | None], events: list[Event]) -> None:
        batch = self._batches[key]
        device = batch.loaded.model.device
        last = torch.tensor([[s.generated[-1]] for s in batch.rows], device=device)
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.rows), 1))], dim=1)
        logits = self._forward(
            batch.loaded, batch.adapter, last, batch.mask, batch.positions[:, None], batch.cache
        )
        batch.positions = batch.positions + 1
        self._advance(key, batch, logits, events, merge=False)

    def _forward(
        self,
        loaded: LoadedBase,
        adapter: str | None,
        ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: DynamicCache,
    ) -> torch.Tensor:
        """Last-position logits of one forward pass with `adapter` switched on (or none)."""
        # Only the last position's logits are used: a prefill need not project the
        # whole prompt onto the vocabulary (most models take `logits_to_keep`).
        keep = {"logits_to_keep": 1} if loaded.keeps_logits else {}
        with torch.inference_mode(), _adapter(loaded, adapter):
            output = loaded.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                **keep,
            )
        logits: torch.Tensor = output.logits[:, -1, :]
        return logits.float()

    def _advance(
        self,
        key: tuple[str, str | None],
        batch: Batch,
        logits: torch.Tensor,
        events: list[Event],
        *,
        merge: bool,
    ) -> None:
        """Pick each row's next token, send its new text, and drop the finished rows."""
        picked = _pick(batch.rows, logits)
        ends = eos_ids(batch.loaded)
        for sequence, token in zip(batch.rows, picked, strict=True):
            if token in ends:
                sequence.finish = "stop"
            else:
                sequence.generated.append(token)
                if len(sequence.generated) >= sequence.max_new:
                    sequence.finish = "length"
            self._emit(batch.loaded, sequence, events)
        self._keep(key, batch, [s for s in batch.rows if s.finish is None])
        if merge and batch.rows:
            self._merge(key, batch)

    def _emit(self, loaded: LoadedBase, sequence: Sequence, events: list[Event]) -> None:
        """Send the text that is safe to show; on a stop string, finish there."""
        text = str(  # one list of ids in: one string out
            loaded.tokenizer.decode(
                sequence.generated, skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
        )
        cut, stopped = cut_at_stop(text, sequence.stops)
        if stopped:
            sequence.finish = "stop"
        if sequence.finish is None:
            # Hold back what could be the start of a stop string or half a character (a
            # UTF-8 character has at most 3 bytes after its first: more replacement
            # characters than that are bytes that never make a character, and are sent).
            # Only an actual beginning of a stop string is held: holding its whole length
            # delayed a chat's first streamed text by the 9 characters of "<|im_end|>".
            safe = len(cut) - partial_stop(cut, sequence.stops)
            partial = len(cut) - len(cut.rstrip("\ufffd"))
            if 0 < partial <= 3:
                safe = min(safe, len(cut) - partial)
            new = cut[len(sequence.sent) : max(safe, len(sequence.sent))]
        else:
            new = cut[len(sequence.sent) :] if cut.startswith(sequence.sent) else ""
        if new or sequence.finish is not None:
            sequence.sent += new
            if not sequence.quiet:
                piece = Piece(sequence.index, new, sequence.finish)  # type: ignore[arg-type]
                events.append((sequence.request_id, "piece", piece))
        if sequence.finish is not None:
            self._finished(sequence, stopped, events)

    def _finished(self, sequence: Sequence, stopped: bool, events: list[Event]) -> None:
        pending = self._requests.get(sequence.request_id)
        if pending is None or any(s.finish is None for s in pending.sequences):
            return
        del self._requests[sequence.request_id]
        choices = tuple(Choice(s.sent, s.finish) for s in pending.sequences)  # type: ignore[arg-type]
        tokenizer = pending.loaded.tokenizer
        # An answer cut at a stop string is counted as sent; otherwise as generated.
        used = sum(
            count_tokens(tokenizer, s.sent) if s.stops and s.finish == "stop" else len(s.generated)
            for s in pending.sequences
        )
        result = GenerationResult(
            choices[0].text, pending.prompt_tokens, used, 0.0, choices, pending.dropped
        )
        events.append((sequence.request_id, "done", result))

    # ---- batch bookkeeping -------------------------------------------------------------

    def _keep(self, key: tuple[str, str | None], batch: Batch, rows: list[Sequence]) -> None:
        """Keep only `rows` in `batch` (dropping their cache rows) and trim padding."""
        if len(rows) == len(batch.rows):
            return
        if not rows:
            batch.rows = []
            if self._batches.get(key) is batch:
                del self._batches[key]
            return
        index = torch.tensor([batch.rows.index(s) for s in rows], device=batch.mask.device)
        batch.cache.batch_select_indices(index)
        batch.rows, batch.mask, batch.positions = rows, batch.mask[index], batch.positions[index]
        # Columns that are padding in every remaining row cost attention for nothing.
        used = batch.mask.any(dim=0).nonzero()
        start = int(used[0]) if len(used) else 0
        if start > 0:
            batch.mask = batch.mask[:, start:]
            for layer in _layers(batch.cache):
                layer.keys = layer.keys[:, :, start:, :]
                layer.values = layer.values[:, :, start:, :]

    def _merge(self, key: tuple[str, str | None], fresh: Batch) -> None:
        """Add freshly prefilled rows to the group's running batch (left-padding both)."""
        running = self._batches.get(key)
        if running is None:
            self._batches[key] = fresh
            return
        width = max(running.mask.shape[1], fresh.mask.shape[1])
        for mine, theirs in zip(_layers(running.cache), _layers(fresh.cache), strict=True):
            mine.keys = torch.cat([_pad(mine.keys, width), _pad(theirs.keys, width)])
            mine.values = torch.cat([_pad(mine.values, width), _pad(theirs.values, width)])
        running.mask = torch.cat([_pad(running.mask, width), _pad(fresh.mask, width)])
        running.positions = torch.cat([running.positions, fresh.positions])
        running.rows = running.rows + fresh.rows


class _Layer(Protocol):
    keys: torch.Tensor
    values: torch.Tensor


def _layers(cache: DynamicCache) -> list[_Layer]:
    """The cache's per-layer key/value tensors (batch, heads, length, dim).

    Rows are merged and trimmed by hand, which only plain full-attention layers allow;
    a sliding-window or linear-attention model is refused with a readable line.
    """
    layers: list[_Layer] = []
    for layer in cache.layers:
        if type(layer) is not DynamicLayer:
            raise ValueError(f"batched generation does not support {type(layer).__name__} caches")
        layers.append(layer)  # type: ignore[arg-type]
    return layers


def _pad(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Left-pad the sequence axis (the last of a mask, the third of keys) with zeros."""
    axis = 1 if tensor.dim() == 2 else 2
    missing = width - tensor.shape[axis]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[axis] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=axis)


def partial_stop(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of `text` could be the beginning of a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def _pick(rows: list[Sequence], logits: torch.Tensor) -> list[int]:
    """Each row's next token under its own request's sampling parameters.

    Rows that sample alike are processed as one tensor (one softmax, one cumulative sum
    for the whole group); each row then draws one number from its own generator. One
    call per row per step made a batch of 8 spend more on sampling than on its forward.
    """
    if all(s.greedy and s.request.params.repetition_penalty == 1.0 for s in rows):
        return [int(t) for t in logits.argmax(dim=-1).tolist()]
    groups: dict[tuple[float, int, float, float], list[int]] = {}
    for i, sequence in enumerate(rows):
        p = sequence.request.params
        key = (max(0.0, p.temperature), p.top_k, p.top_p, p.repetition_penalty)
        groups.setdefault(key, []).append(i)
    picked = [0] * len(rows)
    for key, members in groups.items():
        scores = logits
        if len(members) < len(rows):
            scores = logits[torch.tensor(members, device=logits.device)]
        tokens = _sample([rows[i] for i in members], scores, *key)
        for i, token in zip(members, tokens, strict=True):
            picked[i] = token
    return picked


def _sample(
    rows: list[Sequence],
    scores: torch.Tensor,
    temperature: float,
    top_k: int,
    top_p: float,
    penalty: float,
) -> list[int]:
    """The next tokens of rows that share their sampling parameters (one tensor)."""
    seen = _seen(rows, scores.device) if penalty != 1.0 else None
    if seen is not None:
        scores = RepetitionPenaltyLogitsProcessor(penalty)(seen, scores)
    if temperature <= 0:
        return [int(t) for t in scores.argmax(dim=-1).tolist()]
    scores = scores / temperature
    ids = seen if seen is not None else scores.new_zeros((len(rows), 1), dtype=torch.long)
    if top_k > 0:
        scores = TopKLogitsWarper(top_k)(ids, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(ids, scores)
    # Inverse transform sampling: where each row's uniform draw falls in its cumulative
    # distribution. A token filtered out adds nothing to the sum, so it is never chosen.
    cumulative = torch.softmax(scores, dim=-1).cumsum(dim=-1)
    draws = torch.tensor([[s.rng.random()] for s in rows], device=scores.device)
    chosen = torch.searchsorted(cumulative, draws * cumulative[:, -1:], right=True)
    return [int(t) for t in chosen.clamp(max=scores.shape[-1] - 1).flatten().tolist()]


def _seen(rows: list[Sequence], device: torch.device) -> torch.Tensor:
    """Each row's prompt and answer so far, right-padded with its first token.

    A repeated token is penalised once whatever its count, so the padding changes nothing.
    """
    seen = [s.prompt + s.generated for s in rows]
    width = max(len(ids) for ids in seen)
    return torch.tensor([ids + [ids[0]] * (width - len(ids)) for ids in seen], device=device)


class _adapter:
    """Switch `name` on the base for one forward pass (`None`: the bare base)."""

    def __init__(self, loaded: LoadedBase, name: str | None) -> None:
        self._loaded, self._name = loaded, name
        self._off: object = None

    def __enter__(self) -> None:
        peft = self._loaded.peft
        if peft is None:
            return
        if self._name is None:
            self._off = peft.disable_adapter()  # type: ignore[operator]
            self._off.__enter__()  # type: ignore[attr-defined]
        else:
            peft.set_adapter(self._name)  # type: ignore[operator]

    def __exit__(self, *exc: object) -> None:
        if self._off is not None:
            self._off.__exit__(*exc)  # type: ignore[attr-defined]
            self._off = None


def generate_text(cache: ModelCache, request: GenerationRequest) -> GenerationResult:
    """Answer one request in this process (the CLI and tests): the engine, alone."""
    engine = Engine(cache)
    engine.submit(1, request)
    while True:
        for _request_id, kind, payload in engine.step():
            if kind == "error":
                raise RuntimeError(str(payload))
            if kind == "done":
                assert isinstance(payload, GenerationResult)
                return payload


# ---- the serving loop -----------------------------------------------------------------


def serve_engine(conn: Connection, engine: Engine, batch_wait_s: float, alive_s: float) -> None:
    """Take requests from `conn` between steps and send each step's events back.

    A busy step that has nothing to send for `alive_s` (only quiet requests run) sends
    `(0, "alive", None)`, and so does the child's one `Heartbeat` thread while requests
    are taken and prefilled (a model may be loading), so the parent's silence timeout
    still tells a stuck child.

    Idle, the loop blocks on the pipe; after a first request it waits at most
    `batch_wait_s` for others so that a burst is prefilled together. Busy, it only
    takes what has already arrived, so running answers never wait for new ones.
    """
    conn.send([(0, "alive", None)])  # started: from now on silence means stuck
    with Heartbeat(conn, alive_s) as heartbeat:
        _serve(conn, engine, batch_wait_s, alive_s, heartbeat)


def _serve(
    conn: Connection, engine: Engine, batch_wait_s: float, alive_s: float, heartbeat: Heartbeat
) -> None:
    """The loop of `serve_engine`, until the parent says stop or goes away."""
    last_sent = time.monotonic()
    while True:
        messages: list[object] = []
        try:
            if engine.idle:
                messages.append(conn.recv())
                deadline = time.monotonic() + batch_wait_s
                while conn.poll(max(0.0, deadline - time.monotonic())):
                    messages.append(conn.recv())
            while conn.poll(0):
                messages.append(conn.recv())
        except EOFError:
            return
        events: list[Event] = []
        # Loading a model and prefilling a long prompt are single long calls: the
        # heartbeat thread says the child is alive meanwhile.
        with heartbeat.covering() if messages else contextlib.nullcontext():
            if not _take(engine, messages, events):
                return
            # First tokens go out before the next step: time to first token is one prefill.
            events += engine.admit()
        if events:
            conn.send(events)
        events = engine.advance()
        if events:
            conn.send(events)
        elif engine.idle or time.monotonic() - last_sent < alive_s:
            continue
        else:  # only quiet requests run: the parent still hears the child is alive
            conn.send([(0, "alive", None)])
        last_sent = time.monotonic()


def _take(engine: Engine, messages: list[object], events: list[Event]) -> bool:
    """Act on the parent's messages (answers go to `events`); False when told to stop."""
    from trainer.workers.process import one_line

    for message in messages:
        if message is None:
            return False
        assert isinstance(message, tuple)
        if message[0] == "cancel":
            engine.cancel(message[1])
            continue
        if message[0] == "active":  # answered after the cancels sent before it
            events.append((message[1], "done", engine.active))
            continue
        request_id, request = message[1], message[2]
        try:
            engine.submit(request_id, request, quiet=message[3:] == ("quiet",))
        except Exception as exc:  # a missing folder, a broken adapter: this one fails
            events.append((request_id, "error", one_line(exc)))
    return True
