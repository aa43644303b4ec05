"""The one table of operations (STYLE 13; spec/conformance.md section 1).

Each operation of AHA an implementation can be judged on is one ``Operation`` row: its name,
the adapter method that computes it, the capability that claims it, its inputs in call order,
its outputs, the clauses it pins and the reference function that evaluates it. The adapter
protocol, the strategies, the corpus reader, the call dispatch and the reports read these rows;
adding an operation is a row here plus its functions, never a new branch elsewhere.

Inputs are named as the reference's arguments. The pseudo-input ``config`` marks where the
``AHAConfig`` goes in the call; inputs in ``optional`` may be absent from a case and are then
passed as None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aha import reference as ref
from aha.reference import AHAConfig

CONFIG = "config"  # the pseudo-input naming the configuration's place in a call
GRAD = "grad."  # prefix of a VJP's outputs in cases and vectors: grad.q, grad.params.<name>

# How an adapter's return value maps onto the row's outputs.
RETURNS = (
    "array",  # one array: the row's single output
    "tuple",  # a tuple with one array per output, in order
    "record",  # a mapping or an object with one attribute per output
    "grads",  # a mapping {input name: array}; "params" maps {name: array} (GRAD clauses)
)


@dataclass(frozen=True)
class Operation:
    """One operation: how an adapter is called for it and what it must return."""

    name: str  # "plan", "local", "global", "layer" (+ "*_vjp" rows for gradients)
    method: str  # the adapter method
    capability: str  # the capability an adapter claims to be judged on it
    inputs: tuple[str, ...]  # argument names in call order, CONFIG included
    outputs: tuple[str, ...]  # output names as in cases and vectors
    clauses: tuple[str, ...]  # the spec clauses the operation's result pins
    reference: Callable[..., Any]  # the reference function, called with the same arguments
    returns: str = "array"  # one of RETURNS
    optional: frozenset[str] = frozenset({"key_padding_mask"})
    # Inputs kept in their own dtype whatever the dtype under test (PREC-4).
    not_cast: frozenset[str] = frozenset({"span_scale", "seq_len", "key_padding_mask"})
    dtype_free: bool = False  # True: results do not depend on a dtype under test (the plan)
    requires: frozenset[str] = frozenset()  # capabilities needed beyond ``capability``

    def __post_init__(self) -> None:
        assert self.returns in RETURNS, self.returns
        assert CONFIG in self.inputs, self.name

    @property
    def arrays(self) -> tuple[str, ...]:
        """The inputs a case holds (every input except CONFIG)."""
        return tuple(n for n in self.inputs if n != CONFIG)

    def arguments(self, config: AHAConfig, inputs: Mapping[str, Any]) -> list[Any]:
        """The positional arguments of a call on ``inputs`` (absent optional inputs: None)."""
        missing = [n for n in self.arrays if n not in inputs and n not in self.optional]
        if missing:
            raise KeyError(f"{self.name} needs inputs {missing}, got {sorted(inputs)}")
        # seq_len is a 0-d array in vectors and an int in the call
        return [
            config if n == CONFIG else int(inputs[n]) if n == "seq_len" else inputs.get(n)
            for n in self.inputs
        ]

    def call(self, adapter: Any, config: AHAConfig, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The adapter's result on ``inputs`` as {output name: value}; its exceptions propagate.

        Values are returned as the adapter gave them; whether they are arrays of the right
        shape and dtype is judged by the caller (PREC-4).
        """
        method = getattr(adapter, self.method)
        return self.collect(method(*self.arguments(config, inputs)))

    def evaluate(self, config: AHAConfig, inputs: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        """The reference's result on ``inputs`` as {output name: value}."""
        return self.collect(self.reference(*self.arguments(config, inputs), **kw))

    def collect(self, result: Any) -> dict[str, Any]:
        """{output name: value} from a return value of this operation's method."""
        if self.returns == "array":
            return {self.outputs[0]: result}
        if self.returns == "tuple":
            if not (isinstance(result, tuple) and len(result) == len(self.outputs)):
                raise WrongReturn(
                    f"{self.method} must return a tuple ({', '.join(self.outputs)}), "
                    f"got {type(result).__name__}"
                )
            return dict(zip(self.outputs, result, strict=True))
        if self.returns == "record":
            if isinstance(result, Mapping):
                missing = [n for n in self.outputs if n not in result]
                found = {n: result[n] for n in self.outputs if n in result}
            else:
                missing = [n for n in self.outputs if not hasattr(result, n)]
                found = {n: getattr(result, n) for n in self.outputs if hasattr(result, n)}
            if missing:
                raise WrongReturn(
                    f"{self.method} returned {type(result).__name__} without {', '.join(missing)}"
                )
            return found
        if not isinstance(result, Mapping):
            raise WrongReturn(
                f"{self.method} must return a mapping of gradients, got {type(result).__name__}"
            )
        flat: dict[str, Any] = {}
        for name, value in result.items():
            if name == "params" and isinstance(value, Mapping):
                flat.update({f"{GRAD}params.{k}": v for k, v in value.items()})
            else:
                flat[f"{GRAD}{name}"] = value
        return flat


class WrongReturn(Exception):
    """An adapter returned something that is not the row's result (a failing check)."""


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            name="plan",
            method="plan",
            capability="plan",
            inputs=("span_scale", "seq_len", CONFIG),
            outputs=("window", "reach", "temperature", "gain"),
            clauses=("PLAN-1", "PLAN-2", "PLAN-3", "PLAN-4", "PLAN-5", "PLAN-6"),
            reference=ref.plan,
            returns="record",
            dtype_free=True,
        ),
        Operation(
            name="local",
            method="local_attention",
            capability="local",
            inputs=("q", "k", "v", "span_scale", "rel_bias", CONFIG, "key_padding_mask"),
            outputs=("out",),
            clauses=("LOCAL-1", "LOCAL-2", "LOCAL-3", "LOCAL-4", "LOCAL-5", "LOCAL-6"),
            reference=ref.local_attention,
        ),
        Operation(
            name="global",
            method="global_attention",
            capability="global",
            inputs=("q", "k", "v", "rel_bias", CONFIG, "key_padding_mask"),
            outputs=("out",),
            clauses=("GLOBAL-1", "GLOBAL-2", "GLOBAL-3", "GLOBAL-4"),
            reference=ref.global_attention,
        ),
        Operation(
            name="layer",
            method="hybrid_layer",
            capability="layer",
            inputs=("x", "params", CONFIG, "key_padding_mask", "span_scale"),
            outputs=("y", "s"),
            clauses=("LAYER-1", "LAYER-2", "LAYER-3", "LAYER-4", "LAYER-5", "LAYER-6", "LAYER-7"),
            reference=ref.hybrid_layer,
            returns="tuple",
            optional=frozenset({"key_padding_mask", "span_scale"}),
        ),
        # --- VJP rows (GRAD-4; owner H3a): inputs plus cotangents in, gradients out ---
        Operation(
            name="local_vjp",
            method="local_attention_vjp",
            capability="vjp",
            inputs=("q", "k", "v", "span_scale", "rel_bias", CONFIG, "key_padding_mask", "d_out"),
            outputs=tuple(f"{GRAD}{n}" for n in ("q", "k", "v", "rel_bias", "span_scale")),
            clauses=("GRAD-1", "GRAD-2", "GRAD-3", "GRAD-4", "GRAD-6"),
            reference=ref.local_attention_vjp,
            returns="grads",
            requires=frozenset({"local"}),
        ),
        Operation(
            name="global_vjp",
            method="global_attention_vjp",
            capability="vjp",
            inputs=("q", "k", "v", "rel_bias", CONFIG, "key_padding_mask", "d_out"),
            outputs=tuple(f"{GRAD}{n}" for n in ("q", "k", "v", "rel_bias")),
            clauses=("GRAD-3", "GRAD-4", "GRAD-6"),
            reference=ref.global_attention_vjp,
            returns="grads",
            requires=frozenset({"global"}),
        ),
        Operation(
            name="layer_vjp",
            method="hybrid_layer_vjp",
            capability="vjp",
            inputs=("x", "params", CONFIG, "key_padding_mask", "span_scale", "d_y", "d_s"),
            # grad.span_scale only when span_scale is given (GRAD-5)
            outputs=(
                f"{GRAD}x",
                *(f"{GRAD}params.{n}" for n in ref.param_shapes(1, 1, AHAConfig())),
                f"{GRAD}span_scale",
            ),
            clauses=("GRAD-1", "GRAD-2", "GRAD-3", "GRAD-4", "GRAD-5", "GRAD-6"),
            reference=ref.hybrid_layer_vjp,
            returns="grads",
            optional=frozenset({"key_padding_mask", "span_scale", "d_s"}),
            not_cast=frozenset({"span_scale", "key_padding_mask", "d_s"}),
            requires=frozenset({"layer"}),
        ),
        # --- end of VJP rows ---
        # An implementation with its own configuration object builds it from the fields of an
        # AHAConfig; the invalid `config` cases must be rejected there (ERR-3, H4).
        Operation(
            name="config",
            method="make_config",
            capability="config",
            inputs=(CONFIG,),
            outputs=(),
            clauses=("CFG-1", "CFG-2", "ERR-3"),
            reference=AHAConfig.from_dict,
            returns="record",
            optional=frozenset(),
            not_cast=frozenset(),
            dtype_free=True,
        ),
    )
}
NAMES = tuple(OPERATIONS)


def operation(name: str) -> Operation:
    """The row called ``name``; a KeyError names the known operations."""
    try:
        return OPERATIONS[name]
    except KeyError:
        raise KeyError(f"no operation {name!r}; known: {', '.join(OPERATIONS)}") from None


def kind_of(inputs: Mapping[str, Any]) -> str:
    """The operation whose inputs are exactly these (required ⊆ given ⊆ all)."""
    given = set(inputs)
    for op in OPERATIONS.values():
        required = set(op.arrays) - op.optional
        if required <= given <= set(op.arrays):
            return op.name
    raise ValueError(f"no operation takes inputs {sorted(given)}")
