"""The Pulumi program behind `infra/__main__.py`: validated `hakit` config -> stack -> exported outputs.

`run()` is what `pulumi up` executes. `synth_stack(env)` runs that very program file offline under the
mock harness with `Pulumi.<env>.yaml` as config (for `hakit plan`, `hakit report --stack` and tests).
"""

from __future__ import annotations

import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hakit.errors import SpecError
from hakit.spec.base import Problem
from hakit.spec.loader import LineIndex, format_path, load_yaml
from hakit.spec.stack import StackConfig, stack_config_from_file, stack_config_from_mapping

if TYPE_CHECKING:
    from hakit.testing import ResourceGraph

INVALID_CONFIG = "invalid stack config:"
"""How the program's RunError starts when the config (or a component, on its arguments) rejects it."""


def runtime_config() -> dict[str, Any]:
    """Every config key the engine passed to this program (`ns:key` -> value)."""
    from pulumi.runtime import config as runtime

    return {**runtime.get_config_env(), **runtime.CONFIG.get()}


def _stack_file_candidates(stack: str) -> list[Path]:
    # `pulumi up` starts the program from the project directory or from `main:` (infra/); look in both.
    here = Path.cwd()
    return [here / f"Pulumi.{stack}.yaml", here.parent / f"Pulumi.{stack}.yaml"]


def _preflight(config: StackConfig) -> list[Problem]:
    if config.target == "local":
        return []
    from hakit.stacks.service import preflight

    return preflight(config)


def _problem_lines(problems: list[Problem], source: str, lines: LineIndex | None) -> list[str]:
    found = []
    for problem in problems:
        line = lines.line(problem.loc) if lines is not None else None
        where = f"{source}:{line}" if line is not None else source
        found.append((line or 0, f"{where}: {format_path(problem.loc)}: {problem.message}"))
    return [text for _, text in sorted(found)]


def config_from_file(path: str | Path) -> StackConfig:
    """Validate a stack file: the model, then the components' checks (`preflight`), all with file lines."""
    config = stack_config_from_file(path)
    problems = _preflight(config)
    if problems:
        _, lines = load_yaml(path)
        raise SpecError(_problem_lines(problems, str(path), lines.prefixed(("config",))))
    return config


def load_config(config: Mapping[str, Any], stack: str) -> StackConfig:
    """Validate the runtime config; on failure re-check the stack file (if found) to report file lines."""
    try:
        validated = stack_config_from_mapping(config, source=f"stack {stack}")
        problems = _preflight(validated)
        if problems:
            raise SpecError(_problem_lines(problems, f"stack {stack}", None))
        return validated
    except SpecError as runtime_error:
        for candidate in _stack_file_candidates(stack):
            if candidate.is_file():
                try:
                    config_from_file(candidate)
                except SpecError as file_error:
                    raise file_error from None
        # Unknown lines: drop the placeholder line number the loader uses.
        raise SpecError(
            [line.replace(f"stack {stack}:1: ", f"stack {stack}: ", 1) for line in runtime_error.lines]
        ) from None


def build(config: StackConfig, stack: str) -> dict[str, Any]:
    """Register the stack's resources and return the outputs worth exporting."""
    if config.target == "local":
        from hakit.stacks.local import build_local

        return build_local(config, stack)
    from hakit.stacks.service import build_service

    return build_service(config, stack)


def run() -> None:
    """Entry point of `infra/__main__.py`: validate config before any resource, build, export."""
    import pulumi

    stack = pulumi.get_stack()
    try:
        config = load_config(runtime_config(), stack)
    except SpecError as err:
        # RunError: the engine shows the message without a Python traceback.
        raise pulumi.RunError(f"{INVALID_CONFIG}\n" + "\n".join(err.lines)) from None
    try:
        outputs = build(config, stack)
    except ValueError as err:
        # Components reject bad arguments with ValueError before registering anything (hakit convention).
        raise pulumi.RunError(f"{INVALID_CONFIG} {' '.join(str(err).split())}") from None
    for key, value in outputs.items():
        pulumi.export(key, value)


def project_settings(root: Path) -> tuple[str, Path]:
    """(project name, program file) from the project's `Pulumi.yaml`; a bad file is a SpecError (exit 2)."""
    project_file = root / "Pulumi.yaml"
    document, _ = load_yaml(project_file)
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise SpecError(f"{project_file}:1: (top): a project file is a mapping (name:, runtime:, main:)")
    main = Path(str(document.get("main") or "."))
    program = root / main
    if program.is_dir():
        program = program / "__main__.py"
    if not program.is_file():
        raise SpecError(f"{project_file}: main: the program {program} does not exist")
    return str(document.get("name") or root.resolve().name), program


def stack_file(env: str, root: str | Path = ".") -> Path:
    """The `Pulumi.<env>.yaml` of a stack; a missing file is a usage error (exit 2)."""
    path = Path(root) / f"Pulumi.{env}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in Path(root).glob("Pulumi.*.yaml"))
        raise SpecError(f"{path}: no such stack file (stacks here: {', '.join(known) or 'none'})")
    return path


def synth_stack(env: str, *, root: str | Path = ".") -> ResourceGraph:
    """Run the project's program under mocks with `Pulumi.<env>.yaml`, exactly as `pulumi up` would load it.

    The file is validated first with line numbers (the model, then the components' checks; SpecError,
    exit 2) so no resource is registered from a bad config.
    """
    import pulumi

    from hakit.testing import load_stack_config, synth

    base = Path(root)
    path = stack_file(env, base)
    config_from_file(path)
    project, program = project_settings(base)
    config = load_stack_config(str(path))

    def program_main() -> None:
        runpy.run_path(str(program), run_name="__main__")

    try:
        return synth(program_main, config=config, stack=env, project=project)
    except pulumi.RunError as err:
        # `run()` stops this way when a component rejects its arguments: one line, exit 2, no traceback.
        raise SpecError(f"{path}: {' '.join(str(err).removeprefix(INVALID_CONFIG).split())}") from None
