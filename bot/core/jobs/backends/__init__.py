"""bot/core/jobs/backends"""
