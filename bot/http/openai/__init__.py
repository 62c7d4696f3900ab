"""The OpenAI-compatible face at /openai/v1: files, fine-tuning jobs, models, completions.

Every route here is a thin translation: OpenAI's request shape in, a core service call,
OpenAI's response shape out. The jobs, datasets and models are the same ones `/v1` and
the room show; only their ids are spelled the OpenAI way (`ids.py`).
"""
