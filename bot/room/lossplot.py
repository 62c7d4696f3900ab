"""The loss-curve image posted when a job succeeds (matplotlib, no display needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from storage.jobs import EventRow


def loss_points(
    events: Sequence[EventRow],
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(training loss by step, eval loss by step) from a job's event history."""
    train = [
        (int(e.data["step"]), float(e.data["loss"]))
        for e in events
        if e.event == "progress" and e.data.get("loss") is not None
    ]
    evals = [
        (int(e.data["step"]), float(e.data["eval_loss"]))
        for e in events
        if e.event == "eval" and e.data.get("eval_loss") is not None
    ]
    return train, evals


def render_loss_curve(title: str, events: Sequence[EventRow]) -> tuple[bytes, int, int]:
    """A PNG of training and eval loss against step; returns (png, width, height)."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    from matplotlib.figure import Figure

    train, evals = loss_points(events)
    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    axes = figure.add_subplot()
    if train:
        axes.plot(*zip(*train, strict=True), label="training loss", linewidth=1.2)
    if evals:
        axes.plot(*zip(*evals, strict=True), "o-", label="eval loss", linewidth=1.5)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if train or evals:
        axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    width, height = figure.canvas.get_width_height()
    return buffer.getvalue(), width, height
