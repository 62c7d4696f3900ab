"""bot/core/jobs"""
