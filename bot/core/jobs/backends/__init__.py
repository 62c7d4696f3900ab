"""Training backends (`bot.core.ports.TrainingBackend`): where jobs train. The job service
knows them only through its registry.
"""
