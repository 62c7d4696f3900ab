"""bot/core/schedules"""
