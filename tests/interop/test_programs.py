"""Every program the interop suite drives is installed, and a missing one fails the run."""

from __future__ import annotations

import pytest

from .procs import APT, require


@pytest.mark.parametrize("program", sorted(APT))
def test_installed(program: str) -> None:
    assert require(program).endswith("/" + program)


def test_a_missing_program_fails_not_skips() -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        require("tidegate-no-such-client")
    assert "required program 'tidegate-no-such-client' is not installed" in str(failed.value)
