"""bot/room"""
