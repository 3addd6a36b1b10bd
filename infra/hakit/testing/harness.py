"""Run a Pulumi program in-process under mocks that record what the engine would receive."""

from __future__ import annotations

import asyncio
import atexit
import inspect
import json
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from hakit.testing.graph import DuplicateUrnError, Node, Options, ResourceGraph
from hakit.testing.outputs import DEFAULT_REGION, mock_call, mock_resource

Program = Callable[[], object]
OutputOverride = Callable[[str, str, Mapping[str, Any]], Mapping[str, Any] | None]
InvokeOverride = Callable[[str, Mapping[str, Any]], Mapping[str, Any] | None]
STACK_REFERENCE = "pulumi:pulumi:StackReference"


_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's event loop (made if missing), remembered so it is closed before interpreter exit."""
    loop = _ensure_event_loop()
    _LOOPS.add(loop)
    return loop


@atexit.register
def _close_loops() -> None:
    # Loops left open in the SDK's worker threads are otherwise closed by the garbage collector during
    # interpreter shutdown, which prints "Exception ignored ... Invalid file descriptor" tracebacks.
    for loop in list(_LOOPS):
        if not loop.is_running() and not loop.is_closed():
            loop.close()


def _unwrap_secrets(value: Any, path: str, secrets: set[str]) -> Any:
    """Strip the RPC secret wrappers, recording the dotted paths that were secret."""
    if rpc.is_rpc_secret(value):
        secrets.add(path)
        return _unwrap_secrets(rpc.unwrap_rpc_secret(value), path, secrets)
    if isinstance(value, dict):
        return {k: _unwrap_secrets(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v, f"{path}.{i}" if path else str(i), secrets) for i, v in enumerate(value)]
    return value


def _provider_urn(reference: str) -> str | None:
    # Provider references are "<urn>::<id>"; the URN itself contains "::".
    return reference.rsplit("::", 1)[0] if reference else None


class _Mocks(pulumi_mocks.Mocks):
    """Computed outputs per type; the monitor passes the effective region through `self.region_of`."""

    def __init__(
        self,
        monitor: RecordingMonitor,
        override: OutputOverride | None,
        invokes: InvokeOverride | None = None,
        stack_references: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.monitor = monitor
        self.override = override
        self.invokes = invokes
        self.stack_references = dict(stack_references or {})

    def _stack_reference(self, name: str) -> tuple[str, dict[Any, Any]]:
        """The outputs the test supplied for `name`; `{"secure": value}` marks a secret output."""
        if name not in self.stack_references:
            known = ", ".join(sorted(self.stack_references)) or "none"
            raise KeyError(
                f"StackReference {name!r}: not supplied to synth(stack_references=...) (given: {known})"
            )
        outputs: dict[str, Any] = {}
        secret_names: list[str] = []
        for key, value in self.stack_references[name].items():
            if isinstance(value, Mapping) and set(value) == {"secure"}:
                secret_names.append(key)
                outputs[key] = rpc.wrap_rpc_secret(value["secure"])
            else:
                outputs[key] = value
        return name, {"name": name, "outputs": outputs, "secretOutputNames": sorted(secret_names)}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(str(args.resource_id or args.inputs.get("name") or args.name))
        secrets: set[str] = set()
        inputs = _unwrap_secrets(dict(args.inputs), "", secrets)
        provider = self.monitor.nodes.get(_provider_urn(args.provider or "") or "")
        region = self.monitor.region_for(inputs, provider)
        resource_id, state = mock_resource(args.typ, args.name, inputs, region)
        if args.typ.startswith("pulumi:providers:"):
            resource_id = f"{args.name}-provider-id"
        if self.override is not None:
            extra = self.override(args.typ, args.name, inputs)
            if extra:
                state.update(extra)
        # Secret inputs stay secret in the echoed state, as the engine would keep them.
        for key in {s.split(".")[0] for s in secrets}:
            if key in state and key in inputs and state[key] == inputs[key]:
                state[key] = rpc.wrap_rpc_secret(state[key])
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        provider = self.monitor.nodes.get(_provider_urn(args.provider) or "")
        region = self.monitor.region_for(provider.inputs if provider else {}, provider)
        plain = _unwrap_secrets(dict(args.args), "", set())
        if self.invokes is not None:
            given = self.invokes(args.token, plain)
            if given is not None:
                return dict(given), []
        return mock_call(args.token, plain, region), []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that records every registration with its options and rejects duplicate URNs."""

    def __init__(
        self,
        default_region: str,
        override: OutputOverride | None,
        invokes: InvokeOverride | None = None,
        stack_references: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(_Mocks(self, override, invokes, stack_references))
        self.default_region = default_region
        self.nodes: dict[str, Node] = {}
        # Each resource's own transforms (ResourceOptions.transforms), by URN: children inherit them.
        self.transforms: dict[str, list[Any]] = {}
        self.duplicates: list[str] = []
        # The SDK registers from a thread pool: claim each URN atomically, or two same-URN
        # registrations racing each other would both pass the duplicate check.
        self._claimed: set[str] = set()
        self._claim_lock = threading.Lock()

    def claim(self, urn: str) -> bool:
        """Atomically record `urn`; False when it was registered before (a duplicate)."""
        with self._claim_lock:
            if urn in self._claimed:
                return False
            self._claimed.add(urn)
            return True

    def Invoke(self, request: Any) -> Any:  # gRPC method name
        _thread_loop()
        return super().Invoke(request)

    def _transform_chain(self, own: list[Any], parent: str) -> list[Any]:
        """The engine's order: the resource's own transforms, then each ancestor's, then stack transforms."""
        chain = list(own)
        while parent and parent in self.nodes:
            chain += self.transforms.get(parent, [])
            parent = self.nodes[parent].parent or ""
        return chain + self.get_registered_transforms()

    def region_for(self, inputs: Mapping[str, Any], provider: Node | None) -> str:
        """Effective region: the resource's own `region`, its provider's, else the stack default."""
        own = inputs.get("region")
        if isinstance(own, str) and own:
            return own
        if provider is not None:
            provider_region = provider.inputs.get("region")
            if isinstance(provider_region, str) and provider_region:
                return provider_region
        return self.default_region

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        if not self.claim(urn):
            # The engine fails the deployment; synth raises once the program settles (no stray futures).
            self.duplicates.append(urn)
            return super().RegisterResource(request)
        secrets: set[str] = set()
        raw_inputs = rpc.deserialize_properties(request.object)
        inputs = _unwrap_secrets(raw_inputs, "", secrets)  # builds new containers: raw_inputs stays as sent
        options = _request_options(request)
        own = pulumi_mocks._resolve_callbacks(request.transforms)
        self.transforms[urn] = own
        chain = self._transform_chain(own, request.parent or "")
        if chain:
            inputs, options = _run_transforms(chain, request, inputs, options)
            # Secret inputs stay secret through a transform (by top-level key), as the engine keeps them.
            tops = {path.split(".")[0] for path in secrets}
            raw_inputs = {k: rpc.wrap_rpc_secret(v) if k in tops else v for k, v in inputs.items()}
            secrets = {path for path in secrets if path.split(".")[0] in inputs}
        provider_urn = _provider_urn(request.provider)
        provider = self.nodes.get(provider_urn or "")
        is_aws = request.type.startswith("aws:") or request.type == "pulumi:providers:aws"
        region = self.region_for(inputs, provider) if is_aws else None
        _thread_loop()
        resource_id, raw_state = self.mocks.new_resource(
            pulumi_mocks.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=raw_inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
            )
        )
        state = _unwrap_secrets(raw_state, "", set())
        # The engine marks `additionalSecretOutputs` secret in the response; the bare mock monitor does not.
        for key in request.additionalSecretOutputs:
            if key in raw_state and not rpc.is_rpc_secret(raw_state[key]):
                raw_state[key] = rpc.wrap_rpc_secret(raw_state[key])
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id or "", raw_state)
        response = resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id or "", object=_sync_await(rpc.serialize_properties(raw_state, {}))
        )
        parent = request.parent or None
        if parent is not None and parent not in self.nodes:
            parent = None  # the stack itself (registered above without a node)
        node = Node(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            inputs=inputs,
            outputs=state,
            id=resource_id or None,
            parent=parent,
            provider=provider_urn,
            region=region,
            dependencies=tuple(request.dependencies),
            property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()},
            options=Options(
                protect=bool(options.protect),
                ignore_changes=tuple(options.ignore_changes or ()),
                delete_before_replace=bool(options.delete_before_replace),
                retain_on_delete=bool(options.retain_on_delete),
                replace_on_changes=tuple(options.replace_on_changes or ()),
                additional_secret_outputs=tuple(options.additional_secret_outputs or ()),
                aliases=tuple(a.urn for a in request.aliases if a.urn),
                import_id=request.importId,
                version=request.version,
                custom_timeouts={
                    k: getattr(request.customTimeouts, k)
                    for k in ("create", "update", "delete")
                    if getattr(request.customTimeouts, k, "")
                },
            ),
            secret_inputs=frozenset(secrets),
        )
        self.nodes[urn] = node
        if parent is not None:
            self.nodes[parent].children.append(urn)
        return response


def _request_options(request: Any) -> pulumi.ResourceOptions:
    """The options of a registration as a transform sees them."""
    return pulumi.ResourceOptions(
        protect=bool(request.protect),
        ignore_changes=list(request.ignoreChanges),
        delete_before_replace=bool(request.deleteBeforeReplace),
        retain_on_delete=bool(request.retainOnDelete),
        replace_on_changes=list(request.replaceOnChanges),
        additional_secret_outputs=list(request.additionalSecretOutputs),
    )


def _run_transforms(
    chain: list[Any], request: Any, props: dict[str, Any], opts: pulumi.ResourceOptions
) -> tuple[dict[str, Any], pulumi.ResourceOptions]:
    """Run each transform on the previous one's result; None leaves the resource as it was."""
    for transform in chain:
        args = pulumi.ResourceTransformArgs(
            custom=bool(request.custom), type_=request.type, name=request.name, props=props, opts=opts
        )
        result = transform(args)
        if inspect.isawaitable(result):
            result = _sync_await(result)
        if result is not None:
            props, opts = dict(result.props), result.opts
    return props, opts


def normalize_config(raw: Mapping[str, Any], project: str) -> tuple[dict[str, str], list[str]]:
    """Namespace bare keys with the project, JSON-encode structured values, mark `{secure: ...}` as secret."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            # Ciphertext cannot be decrypted offline: the program sees a stable placeholder, marked secret.
            secret_keys.append(full)
            secure = str(value["secure"])
            value = secure if not secure.startswith("v1:") else f"mock-secret-{full.replace(':', '-')}"
        config[full] = value if isinstance(value, str) else json.dumps(value)
    return config, secret_keys


def synth(
    program: Program,
    *,
    config: Mapping[str, Any] | None = None,
    stack: str = "test",
    project: str = "project",
    preview: bool = False,
    outputs: OutputOverride | None = None,
    invokes: InvokeOverride | None = None,
    stack_references: Mapping[str, Mapping[str, Any]] | None = None,
) -> ResourceGraph:
    """Run `program` under recording mocks and return the settled ResourceGraph.

    `config` is Pulumi config: keys `ns:key` (bare keys get the project namespace), values as in
    `Pulumi.<stack>.yaml` (strings, structures, `{secure: ...}`). `outputs(type, name, inputs)` may
    return extra output properties for a resource. `invokes(token, args)` may return the result of a
    data-source call (None: the built-in mock answers). `stack_references` maps a stack name to the outputs
    a `pulumi.StackReference` of it reads (`{"secure": value}` for a secret output). Resource transforms
    (`ResourceOptions(transforms=...)`, `pulumi.runtime.register_resource_transform`) run in the engine's
    order. Raises DuplicateUrnError like the engine does.
    """
    engine_config, secret_keys = normalize_config(config or {}, project)
    aws_region = engine_config.get("aws:region", DEFAULT_REGION)
    monitor = RecordingMonitor(aws_region, outputs, invokes, stack_references)
    set_all_config(engine_config, secret_keys)
    # set_mocks installs fresh settings and a new root stack: nothing leaks from a previous synth.
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi_mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    exports: dict[str, Any] = {}
    secret_exports: set[str] = set()

    async def run() -> None:
        program()
        root = settings.get_root_resource()
        for key, value in dict(getattr(root, "outputs", {}) or {}).items():
            out = pulumi.Output.from_input(value)
            exports[key] = await out.future()
            if await out.is_secret():
                secret_exports.add(key)

    _thread_loop()
    try:
        _sync_await(run_pulumi_func(run))
    finally:
        set_all_config({}, [])
    if monitor.duplicates:
        raise DuplicateUrnError(
            f"duplicate URN {monitor.duplicates[0]}: two resources share type and name under one parent"
        )
    return ResourceGraph(
        nodes=dict(monitor.nodes),
        stack_outputs=exports,
        secret_stack_outputs=frozenset(secret_exports),
        stack=stack,
        project=project,
    )


def load_stack_config(path: str) -> dict[str, Any]:
    """Read a `Pulumi.<stack>.yaml` file and return its `config:` map (for `synth(config=...)`)."""
    from ruamel.yaml import YAML

    with open(path, encoding="utf-8") as handle:
        document = YAML(typ="safe").load(handle) or {}
    config: dict[str, Any] = dict(document.get("config") or {})
    return config
