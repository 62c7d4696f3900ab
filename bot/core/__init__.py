"""The domain both faces call: jobs, models, datasets, generation, data preparation, sources
and schedules. It never imports a face (room, matrix, http, cli).
"""
