"""Training on a Ray cluster: the code that runs on Ray, never in the Trainbot process.

`driver.py` is one detached, named actor per cluster (`RunHost`: it outlives the Trainbot
service and is found again by name after a restart): it runs each job's run, Ray Train's
`TorchTrainer` in a thread or, for a one-worker CPU job, a warm worker (`warm.py`), and
keeps the runs' events and stop requests. `loop.py` is what every worker runs: the same
`trainer.train.run_training` as the local backend (under DDP with Ray Train).
"""
