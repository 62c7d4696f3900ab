"""bot/http/routes"""
