"""bot/core/dataprep"""
