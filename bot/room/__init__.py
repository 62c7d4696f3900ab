"""The chat face: commands, the dispatcher, progress edited in place, every sentence people
read. Talks to Matrix through `bot.matrix`.
"""
