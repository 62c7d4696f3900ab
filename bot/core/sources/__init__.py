"""bot/core/sources"""
