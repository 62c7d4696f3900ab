"""Training on a Ray cluster: the code that runs on Ray, never in the Trainbot process.

`driver.py` is a detached, named actor per job (it outlives the Trainbot service and is
found again by name after a restart): it runs Ray Train's `TorchTrainer` in a thread and
keeps the job's events and stop request. `loop.py` is the function every Ray Train worker
runs: the same `trainer.train.run_training` as the local backend, under DDP.
"""
