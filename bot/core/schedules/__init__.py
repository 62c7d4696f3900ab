"""Adaptive retraining: `[[schedules]]` policies evaluated on a schedule, every decision
recorded, retrains through the job service.
"""
