"""Site template overrides: a directory whose `haproxy/haproxy.cfg.j2` or `nginx/nginx.conf.j2` replaces
hakit's (an escape hatch; `hakit report` flags it as unmodelled, `--validate` checks what it renders).

An override sees the same variables as hakit's template and can include or extend the original as
`hakit/haproxy/haproxy.cfg.j2`, so a site adds what it needs without copying the rest.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from hakit.errors import HakitError
from hakit.render.environment import environment, render


@lru_cache(maxsize=8)
def _override_environment(directory: str) -> jinja2.Environment:
    base = environment()
    assert base.loader is not None
    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(directory), jinja2.PrefixLoader({"hakit": base.loader}), base.loader]
    )
    return base.overlay(loader=loader)


def render_template(directory: str | None, name: str, **context: object) -> str:
    """Render `name` from the override `directory` when it has one, else hakit's own template."""
    if directory is None:
        return render(name, **context)
    if not Path(directory).is_dir():
        raise HakitError(f"proxy.template_dir: {directory} is not a directory")
    try:
        return _override_environment(directory).get_template(name).render(**context)
    except jinja2.TemplateError as err:
        raise HakitError(f"proxy.template_dir: {directory}/{name}: {err}") from None
