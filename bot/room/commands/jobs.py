"""`!status`, `!jobs`, `!cancel`, `!pause`, `!resume` (the job's requester or an admin)."""

from __future__ import annotations

from typing import Any

from bot.core.jobs.states import STATUSES
from bot.core.status import overview
from bot.core.types import JobStatus
from bot.matrix.format import text
from bot.room.commands.base import Arg, Args, CommandContext, Reply, command
from bot.room.text import duration, jobs_table, progress_line


@command(
    "status",
    help="Overall status (jobs, queue, active models), or one job in detail.",
    example="status k7qm2xfa",
    args=(Arg("job", optional=True),),
)
async def status(ctx: CommandContext, args: Args) -> Reply:
    """One job's state and progress, or the overview."""
    if args.words:
        job = await ctx.services.jobs.get(args.words[0])
        progress = await ctx.services.store.events.last(job.id, "progress")
        lines = [progress_line(job, progress.data if progress else None), f"status: {job.status}"]
        if job.error:
            lines.append(f"error: {job.error}")
        if job.result:
            lines.append(_result(job.result))
        return Reply.notice("\n".join(lines))
    info = await overview(ctx.services.store, ctx.services.jobs.backends.values())
    counts = ", ".join(f"{n} {s}" for s, n in sorted(info["jobs"].items())) or "no jobs yet"
    active = ", ".join(m["label"] for m in info["active_models"]) or "none"
    lines = [f"Jobs: {counts}. Queue: {info['queue_length']}. Active models: {active}."]
    for run in info["running"]:
        job = await ctx.services.jobs.get(run["id"])
        lines.append(progress_line(job, run["progress"]))
    lines.extend(_cluster_line(name, c) for name, c in info["clusters"].items())
    return Reply.notice("\n".join(lines))


@command(
    "jobs",
    help="The latest jobs (optionally only those in one state).",
    example="jobs running",
    args=(Arg("status", optional=True),),
)
async def jobs(ctx: CommandContext, args: Args) -> Reply:
    """A table of recent jobs."""
    wanted = args.words[0] if args.words else None
    if wanted is not None and wanted not in STATUSES:
        return Reply.notice(f"unknown status {wanted!r}; use one of {', '.join(STATUSES)}")
    found = await ctx.services.jobs.find(status=wanted, limit=15)
    if not found:
        return Reply.notice(f"No jobs yet. Start one with {ctx.prefix}train <dataset>.")
    return Reply(text("Jobs (newest first):\n") + jobs_table(found))


@command(
    "cancel",
    help="Cancel a job (a running one stops at the next step); yours, or any as an admin.",
    example="cancel k7qm2xfa",
    args=(Arg("job"),),
)
async def cancel(ctx: CommandContext, args: Args) -> Reply:
    """Cancel now (queued, paused) or at the next step (running)."""
    job = await ctx.services.jobs.cancel(args.word(0, "job"), by=ctx.sender, admin=ctx.is_admin)
    how = "cancelled" if job.status == JobStatus.CANCELLED else "cancelling at the next step"
    return Reply.notice(f"Job {job.id} ({job.name}): {how}.")


@command(
    "pause",
    help="Pause a job at a checkpoint; resume continues from there. Yours, or any as an admin.",
    example="pause k7qm2xfa",
    args=(Arg("job"),),
)
async def pause(ctx: CommandContext, args: Args) -> Reply:
    """Hold a queued job, or pause a running one at its next checkpoint."""
    job = await ctx.services.jobs.pause(args.word(0, "job"), by=ctx.sender, admin=ctx.is_admin)
    how = "paused" if job.status == JobStatus.PAUSED else "pausing at the next checkpoint"
    return Reply.notice(f"Job {job.id} ({job.name}): {how}.")


@command(
    "resume",
    help="Resume a paused job from its checkpoint; yours, or any as an admin.",
    example="resume k7qm2xfa",
    args=(Arg("job"),),
)
async def resume(ctx: CommandContext, args: Args) -> Reply:
    """Put a paused job back in the queue."""
    job = await ctx.services.jobs.resume(args.word(0, "job"), by=ctx.sender, admin=ctx.is_admin)
    return Reply.notice(f"Job {job.id} ({job.name}): queued again; it continues where it paused.")


def _result(result: dict[str, object]) -> str:
    ppl, before = result.get("perplexity"), result.get("initial_perplexity")
    parts = [f"model {result.get('model')}"]
    if isinstance(ppl, float) and isinstance(before, float):
        parts.append(f"perplexity {before:.1f} → {ppl:.1f}")
    if isinstance(result.get("duration_s"), float):
        parts.append(f"took {duration(result['duration_s'])}")  # type: ignore[arg-type]
    return ", ".join(parts)


COMMANDS = (status, jobs, cancel, pause, resume)


def _cluster_line(name: str, cluster: dict[str, Any]) -> str:
    """ "Ray cluster: 2 nodes, 3 of 8 CPUs free, 1 of 2 GPUs free, 1 idle warm worker
    holding CPUs, 1 job on it." and the jobs waiting for it."""
    waiting = "".join(f" Job {job[:8]}: {why}." for job, why in cluster["waiting"].items())
    if not cluster.get("reachable"):
        return f"{name.capitalize()} cluster unreachable: {cluster.get('reason')}.{waiting}"
    nodes = cluster["nodes"]
    cpus = f"{cluster['cpus_free']:g} of {cluster['cpus']:g} CPUs free"
    gpus = f", {cluster['gpus_free']:g} of {cluster['gpus']:g} GPUs free" if cluster["gpus"] else ""
    jobs = len(cluster["jobs"])
    warm = int(cluster.get("warm_workers") or 0)
    idle = f", {warm} idle warm worker{'s' * (warm != 1)} holding CPUs" if warm else ""
    return (
        f"{name.capitalize()} cluster: {nodes} node{'s' * (nodes != 1)}, {cpus}{gpus}{idle}, "
        f"{jobs} job{'s' * (jobs != 1)} on it.{waiting}"
    )
