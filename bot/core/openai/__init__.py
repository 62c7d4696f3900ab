"""The OpenAI API as Trainbot uses it: the client, fine-tuning options, and how the API's
events read as job events.
"""
