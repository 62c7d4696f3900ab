"""The interactive console: typed lines go to the room until /quit or end of input."""

import os

from bot.dev.demo.console import run_console


class FakeView:
    """Records what the console says in the room."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def say(self, body: str) -> str:
        self.said.append(body)
        return f"$event{len(self.said)}"


async def test_lines_are_sent_until_quit() -> None:
    view, printed = FakeView(), []
    read_end, write_end = os.pipe()
    os.write(write_end, "!help\n\n  !generate über  \n/quit\n!never sent\n".encode())

    await run_console(view, printed.append, stdin_fd=read_end)

    assert ["!help", "!generate über"] == view.said
    assert printed and "/quit or Ctrl-D" in printed[0]
    os.close(write_end)


async def test_end_of_input_stops_and_a_last_unfinished_line_is_sent() -> None:
    view = FakeView()
    read_end, write_end = os.pipe()
    os.write(write_end, b"!models\n!status")
    os.close(write_end)

    await run_console(view, lambda line: None, stdin_fd=read_end)

    assert ["!models", "!status"] == view.said
