"""Worker processes, managed from asyncio without importing torch.

`process` is the one shared helper (fork from the forkserver with a pipe, watch pipe and
sentinel, turn a death into words); `pool` runs training jobs (`training` is their
child side), `generation` and `eval` are long-lived request/reply workers on `server`.
"""
