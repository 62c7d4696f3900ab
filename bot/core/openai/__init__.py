"""bot/core/openai"""
