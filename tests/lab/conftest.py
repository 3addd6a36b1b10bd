"""Lab tests: a SIGTERM (CI cancelling the job) still runs the fixture finalizers that delete namespaces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hakit.lab.session import terminate_as_interrupt


@pytest.fixture(scope="session", autouse=True)
def _sigterm_cleans_up() -> Iterator[None]:
    with terminate_as_interrupt():
        yield
