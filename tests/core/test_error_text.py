"""One rule for every error line the user reads (``cephview: error: ...`` and the window's error box)."""

from __future__ import annotations

import os

from cephview.cli import error
from cephview.core.errors import MESSAGE_LIMIT, one_line


def test_control_characters_are_escaped_and_lines_joined():
    text = one_line("a.dcm: bad\nvalue\x1b[31mred\x00 \u202eevil\tend")
    assert text == "a.dcm: bad value\\x1b[31mred\\x00 \\u202eevil end"


def test_undecodable_file_name_bytes_show_as_hex():
    assert one_line(os.fsdecode(b"caf\xe9.jpg") + ": not an image") == "caf\\xe9.jpg: not an image"


def test_length_is_bounded():
    text = one_line("x" * 2_000_000)
    assert len(text) == MESSAGE_LIMIT and text.endswith("...")


def test_the_command_lines_error_is_one_bounded_line(capsys):
    error("p.dcm: it is a \x1b[2J" + "1" * 100_000 + "\n\n\x00 object")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and len(err) < MESSAGE_LIMIT + 40
