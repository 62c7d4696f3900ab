"""Imported once by the forkserver that workers are forked from (see `trainer.workers.process`).

Only imports: no tensor is created and no thread started here, so a forked worker starts
from a clean torch that has merely been loaded.
"""

# ruff: noqa: E402, F401  (the imports must follow the two calls below)

import os

from trainer.workers.process import die_with_parent

# The server dies with the service, even by SIGKILL, at once: without this it would
# first notice the closed pipe and then tear down a whole torch interpreter, while its
# workers (which die with it) train on.
die_with_parent()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # set before tokenizers loads

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer

import trainer.evaluate
import trainer.train
import trainer.workers.generation_child
import trainer.workers.generation_engine
