"""Imported once by the forkserver that workers are forked from (see `trainer.procs`).

Only imports: no tensor is created and no thread started here, so a forked worker starts
from a clean torch that has merely been loaded.
"""

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # set before tokenizers loads

import torch  # noqa: F401
import transformers  # noqa: F401
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer  # noqa: F401

import trainer.evaluate
import trainer.generation_child
import trainer.train  # noqa: F401
