"""One tool registry for every agent: a tool is declared once, with its handler.

A `Tool` binds a name, a description, a pydantic model of its arguments and the handler
that runs it. The JSON schema the model sees is derived from the argument model and kept
as small as a hand-written one (no titles, no defaults, optional fields without `anyOf`),
because every word of it is sent with every call. Dispatch goes through the registry, never
through a method looked up by name.

Two failures stay apart, because the model can act on only one of them:
- `BadToolArguments`: the arguments do not fit the model (the handler never ran);
- anything the handler raises: a failure of the tool itself, which the agent reports as such.

Methods become tools with the `@tool` decorator and `ToolRegistry.of(owner)`; any other
async callable taking the validated model (an MCP server's tool, say) fits `Tool` directly.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from magentic.errors import MagenticError
from magentic.llm.messages import ToolSpec

ArgsT = TypeVar("ArgsT", bound=BaseModel)
ResultT = TypeVar("ResultT")


class ToolArgs(BaseModel):
    """Base of argument models: extra arguments a model adds are ignored, not refused."""

    model_config = ConfigDict(extra="ignore")


class NoArgs(ToolArgs):
    """For tools that take no arguments."""


class BadToolArguments(MagenticError):
    """A tool call's arguments do not fit its model; the handler did not run."""


class UnknownTool(MagenticError):
    """A call named a tool that is not in the registry."""


@dataclass(frozen=True)
class Tool(Generic[ArgsT, ResultT]):
    name: str
    description: str
    args: type[ArgsT]
    handler: Callable[[ArgsT], Awaitable[ResultT]]

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, compact_schema(self.args))

    def parse(self, arguments: Mapping[str, Any] | None) -> ArgsT:
        try:
            return self.args.model_validate(dict(arguments or {}))
        except ValidationError as error:
            raise BadToolArguments(f"bad arguments for {self.name}: {_explain(error)}") from None

    async def __call__(self, arguments: Mapping[str, Any] | None) -> ResultT:
        """Validate, then run the handler; what the handler raises passes through as is."""
        return await self.handler(self.parse(arguments))


class ToolRegistry(Generic[ResultT]):
    """The tools of one agent, in the order the model is shown them."""

    def __init__(self, tools: Iterable[Tool[Any, ResultT]] = ()) -> None:
        self._tools: dict[str, Tool[Any, ResultT]] = {}
        for t in tools:
            self.add(t)

    def add(self, new: Tool[Any, ResultT]) -> None:
        if new.name in self._tools:
            raise ValueError(f"two tools are named {new.name}")
        self._tools[new.name] = new

    @classmethod
    def of(cls, owner: object) -> ToolRegistry[Any]:
        """The `@tool` methods of `owner`, bound to it, in the order the class defines them."""
        return cls(
            Tool(decl.name, decl.description, decl.args, getattr(owner, attr))
            for attr, decl in declared(type(owner))
        )

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Any:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool[Any, ResultT]:
        found = self._tools.get(name)
        if found is None:
            known = ", ".join(self._tools)
            raise UnknownTool(f"there is no tool named {name!r}; the tools are: {known}")
        return found

    def specs(self, *, exclude: Iterable[str] = ()) -> list[ToolSpec]:
        skip = set(exclude)
        return [t.spec() for t in self._tools.values() if t.name not in skip]

    async def call(self, name: str, arguments: Mapping[str, Any] | None) -> ResultT:
        return await self.get(name)(arguments)


# Declaring tools as methods ------------------------------------------------------------------
@dataclass(frozen=True)
class _Declared:
    name: str
    description: str
    args: type[BaseModel]


_MARK = "__magentic_tool__"


def tool(name: str, description: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark an async method `(self, args: SomeArgs)` as a tool; the model comes from its hint."""

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        if not inspect.iscoroutinefunction(method):
            raise TypeError(f"tool {name}: the handler must be async")
        params = list(inspect.signature(method).parameters)
        hint = method.__annotations__.get(params[1]) if len(params) == 2 else None
        # Only this hint is resolved: the return type may name a class defined later.
        args = eval(hint, method.__globals__) if isinstance(hint, str) else hint
        if not (isinstance(args, type) and issubclass(args, BaseModel)):
            raise TypeError(f"tool {name}: the handler takes (self, args: <a pydantic model>)")
        setattr(method, _MARK, _Declared(name, description, args))
        return method

    return mark


def declared(cls: type) -> list[tuple[str, _Declared]]:
    """The `@tool` methods of a class and its bases: (attribute, declaration)."""
    out: dict[str, tuple[str, _Declared]] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            decl = getattr(value, _MARK, None)
            if isinstance(decl, _Declared):
                out[decl.name] = (attr, decl)
    return list(out.values())


def specs_of(cls: type, *, exclude: Iterable[str] = ()) -> list[ToolSpec]:
    """The schemas of a class's tools, without an instance (for sizes and listings)."""
    skip = set(exclude)
    return [
        ToolSpec(d.name, d.description, compact_schema(d.args))
        for _, d in declared(cls)
        if d.name not in skip
    ]


# Schemas -------------------------------------------------------------------------------------
_DROP = {"title", "default"}


def compact_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema without what costs tokens and tells the model nothing."""
    full = model.model_json_schema()
    properties = {k: _compact(v) for k, v in full.get("properties", {}).items()}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if full.get("required"):
        schema["required"] = list(full["required"])
    if full.get("additionalProperties") is False:
        schema["additionalProperties"] = False
    return schema


def _compact(node: Any) -> Any:
    if isinstance(node, list):
        return [_compact(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: v for k, v in node.items() if k not in _DROP}
    options = node.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:  # `X | None`: optional is said by `required`, not by a union
            node.pop("anyOf")
            node = {**_compact(kept[0]), **node}
    return {k: _compact(v) for k, v in node.items()}


def _explain(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:4]:
        where = ".".join(str(p) for p in item.get("loc", ())) or "arguments"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)
