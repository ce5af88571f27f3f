"""The tmux driver the terminal apps' end-to-end tests use, on a plain shell command."""

from __future__ import annotations

import pytest

from tests.support.tmux import TmuxSession, shows_big


@pytest.mark.slow
def test_keys_go_in_the_screen_comes_back_and_the_exit_status_is_kept() -> None:
    script = 'echo "ready $(stty size)"; read answer; echo "got $answer"; exit 3'
    with TmuxSession(["sh", "-c", script], width=50, height=7) as tmux:
        assert "ready 7 50" in tmux.wait_for("ready")
        assert tmux.exit_status() is None
        tmux.send_keys("F2 done", literal=True)
        tmux.send_keys("Enter")
        assert tmux.wait_for_exit(timeout=5) == 3
        screen = tmux.screen()
    assert "got F2 done" in screen
    assert len(screen.splitlines()) <= 7


@pytest.mark.slow
def test_waiting_for_what_never_comes_fails_with_the_screen_and_closing_ends_it() -> None:
    tmux = TmuxSession(["sh", "-c", "echo nothing to see; sleep 30"], width=40, height=5)
    try:
        tmux.wait_for("nothing")
        expected = r"'a verdict' not on the screen within 0\.1 s(.|\n)*nothing to see"
        with pytest.raises(AssertionError, match=expected):
            tmux.wait_for("a verdict", timeout=0.1)
        assert tmux.wait_for(lambda screen: screen.count("\n") >= 4)
    finally:
        tmux.close()
    with pytest.raises(RuntimeError, match="tmux"):
        tmux.screen()


def test_block_letters_are_found_on_a_screen_wherever_they_are() -> None:
    from ekarta.terminal.apps.bigtext import render

    screen = "\n".join(["status", *("   " + row + "  x" for row in render("PLATNÁ")), "end"])
    assert shows_big(screen, "PLATNÁ") and shows_big(screen, "platná")
    assert not shows_big(screen, "NEPLATNÁ") and not shows_big(screen, "PLATNA")
    assert not shows_big("\n".join(render("PLATNÁ")[:-1]), "PLATNÁ")
