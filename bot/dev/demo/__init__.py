"""`trainbot demo`: a local homeserver, the bot, a generated dataset and a room to try it in.

`session.DemoSession` brings the pieces up and down, `view.RoomView` is the demo user's
side of the room, `console` and `script` drive it, and `data` generates the stories.
"""
