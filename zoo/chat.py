"""Chat templates: a checkpoint's Jinja template, rendered in a sandbox as transformers renders
it, within limits of time, steps and size. A template is code from a file, and a hostile one
must not hang or exhaust memory: every loop iteration and call is a step, strings and lists
are measured before an operator or method could grow them, and the output is measured too.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

# a chat template's limits: wall-clock seconds, steps (loop iterations and calls) and the
# characters of any string or list it builds and of its output (real templates take
# milliseconds, a few hundred steps and a few kilobytes)
TEMPLATE_SECONDS = 5.0
TEMPLATE_STEPS = 200_000
TEMPLATE_CHARS = 1_000_000


class TemplateLimitError(ValueError):
    """A chat template that took too long, too many steps, or built too much."""


class _TemplateRaised(ValueError):
    """raise_exception() called by the template itself: its own message."""


def template_source(config: dict[str, Any]) -> str | None:
    """tokenizer_config.json's chat_template: a string, or transformers' list of named
    templates ({"name", "template"}), of which the one named "default" is the chat template."""
    value = config.get("chat_template")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(t, dict) and isinstance(t.get("name"), str)
                                       and isinstance(t.get("template"), str) for t in value):
        return next((t["template"] for t in value if t["name"] == "default"), None)
    raise ValueError(f"tokenizer_config.json: chat_template is {type(value).__name__}; expected "
                     f"a string, or a list of {{\"name\", \"template\"}} objects")


def _size(value: Any) -> int:
    """How big a value is, for the limits: characters of a string, items of a list, and for an
    integer its digits (a huge power takes as long as a huge string)."""
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3
    return 0


def _fits(size: int, what: str) -> None:
    if size > TEMPLATE_CHARS:
        raise TemplateLimitError(f"{what} would be {size:,} long; a chat template may build at "
                                 f"most {TEMPLATE_CHARS:,} characters (or items)")


# a %-format or str.format field whose width or precision has 7 digits or more, or is given
# by an argument (*): it could allocate gigabytes in one step
_WIDE_FORMAT = re.compile(r"%[-#0 +]*(?:\*|\d{7})|%[-#0 +]*\d*\.(?:\*|\d{7})"
                          r"|\{[^{}]*:[^{}]*\d{7}")


def _format_fits(text: Any) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise TemplateLimitError("a format width or precision above 999,999 (or given as '*') "
                                 "is refused in a chat template")


def _grown(operator: str, left: Any, right: Any) -> int:
    """The size of `left operator right` before it is computed (the operators that can grow a
    value past the limits in one step)."""
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            return _size(left) + _size(right)
        if isinstance(left, int):
            left, right = right, left
        return _size(left) * right if isinstance(right, int) else 0
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            return max(1, _size(left)) * right
        return 0
    if operator == "%":
        _format_fits(left)
        return 0
    return _size(left) + _size(right)  # +


_GROWING_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join"}


def _method_grown(method: Any, args: tuple[Any, ...]) -> int:
    """The size of a string method's result before it is computed (the methods that can grow
    a string by much more than their arguments)."""
    text, name = method.__self__, method.__name__
    ints = [a for a in args if isinstance(a, int)]
    if name in ("center", "ljust", "rjust", "zfill"):
        return max([len(text), *ints])
    if name == "expandtabs":
        return len(text) + text.count("\t") * max([8, *ints])
    if name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        hits = text.count(args[0]) if args[0] else len(text) + 1
        return len(text) + hits * len(args[1])
    if name == "join" and args:
        items = args[0]
        count = len(items) if hasattr(items, "__len__") else TEMPLATE_CHARS + 1
        return count * len(text) + sum(_size(i) for i in items) if count <= TEMPLATE_CHARS \
            else count
    return 0


def _bounded_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Jinja's filters that can grow a string far past their arguments, each checked before it
    runs: center, indent, wordwrap, replace, join, format."""
    from jinja2 import Environment
    from jinja2.nodes import EvalContext

    def checked(name: str, grown: Callable[..., int]) -> Callable[..., Any]:
        run = filters[name]

        def filter_(*args: Any, **kwargs: Any) -> Any:
            given = [a for a in args if not isinstance(a, Environment | EvalContext)]
            _fits(grown(*given, **kwargs), f"the |{name} filter's result")
            return run(*args, **kwargs)

        if hasattr(run, "jinja_pass_arg"):  # the context or environment Jinja passes first
            filter_.jinja_pass_arg = run.jinja_pass_arg  # type: ignore[attr-defined]
        return filter_

    def text(value: Any) -> str:
        return value if isinstance(value, str) else str(value)

    def number(value: Any, default: int) -> int:
        return value if isinstance(value, int) else default

    def center(s: Any, width: Any = 80) -> int:
        return max(len(text(s)), number(width, 0))

    def indent(s: Any, width: Any = 4, *args: Any, **kwargs: Any) -> int:
        lines = text(s).count("\n") + 1
        return len(text(s)) + lines * (len(width) if isinstance(width, str) else
                                       number(width, 0))

    def wordwrap(s: Any, width: Any = 79, break_long_words: Any = True,
                 wrapstring: Any = None, *args: Any, **kwargs: Any) -> int:
        wrap = kwargs.get("wrapstring", wrapstring) or "\n"
        return len(text(s)) + (len(text(s)) // max(1, number(width, 1)) + 1) * _size(wrap)

    def replace(s: Any, old: Any = "", new: Any = "", *args: Any, **kwargs: Any) -> int:
        hits = text(s).count(old) if isinstance(old, str) and old else len(text(s)) + 1
        return len(text(s)) + hits * _size(new)

    def join(value: Any, d: Any = "", *args: Any, **kwargs: Any) -> int:
        count = len(value) if hasattr(value, "__len__") else 0
        if count > TEMPLATE_CHARS:
            return count
        return count * _size(d) + sum(_size(item) for item in value)

    def format_(value: Any, *args: Any, **kwargs: Any) -> int:
        _format_fits(value)
        return 0

    grown = {"center": center, "indent": indent, "wordwrap": wordwrap, "replace": replace,
             "join": join, "format": format_}
    return {**filters, **{name: checked(name, size) for name, size in grown.items()}}


def _sandbox() -> Any:
    """Jinja's immutable sandbox, bounded: every loop iteration and call is a step, checked
    against TEMPLATE_STEPS and the clock; every operator, string method and filter that can
    grow a value is checked against TEMPLATE_CHARS before it runs, and every `~` after."""
    from jinja2 import nodes
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.visitor import NodeTransformer

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def __init__(self) -> None:
            super().__init__(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
            self.steps, self.deadline = 0, time.monotonic() + TEMPLATE_SECONDS
            self.filters = _bounded_filters(self.filters)
            self.globals.pop("lipsum", None)  # its n is a size: nothing a chat needs
            self.globals[_LOOP] = self.loop
            self.globals[_CHECK] = self.check

        def step(self) -> None:
            self.steps += 1
            if self.steps > TEMPLATE_STEPS:
                raise TemplateLimitError(f"it took more than {TEMPLATE_STEPS:,} steps (loop "
                                         f"iterations and calls)")
            if not self.steps % 64 and time.monotonic() > self.deadline:
                raise TemplateLimitError(f"it ran for more than {TEMPLATE_SECONDS:g} seconds")

        def loop(self, iterable: Any) -> Iterator[Any]:
            for item in iterable:
                self.step()
                yield item

        def check(self, value: Any) -> Any:
            _fits(_size(value), "a joined string (~)")
            return value

        def call(__self, __context: Any, __obj: Any, *args: Any,
                 **kwargs: Any) -> Any:
            __self.step()
            if getattr(__obj, "__name__", None) in _GROWING_METHODS and isinstance(
                    getattr(__obj, "__self__", None), str):
                _fits(_method_grown(__obj, args), f"str.{__obj.__name__}'s result")
            return super().call(__context, __obj, *args, **kwargs)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _fits(_grown(operator, left, right), f"the result of {operator!r}")
            return super().call_binop(context, operator, left, right)

        def wrap_str_format(self, value: Any) -> Any:
            _format_fits(getattr(value, "__self__", None))
            return super().wrap_str_format(value)

    class Bound(NodeTransformer):
        """Every for loop's iterable goes through the step counter, every `~` through the
        size check."""

        def visit_For(self, node: Any) -> Any:
            node = self.generic_visit(node)
            node.iter = nodes.Call(nodes.Name(_LOOP, "load"), [node.iter], [], None, None)
            return node

        def visit_Concat(self, node: Any) -> Any:
            node = self.generic_visit(node)
            return nodes.Call(nodes.Name(_CHECK, "load"), [node], [], None, None)

    return BoundedSandbox(), Bound()


_LOOP, _CHECK = "__zoo_bounded_loop", "__zoo_bounded_check"


def render_template(source: str, origin: str, **context: Any) -> str:
    """A chat template rendered in the bounded sandbox (`_sandbox`); any failure is one
    ValueError naming `origin` and the template's line where Jinja knows it."""
    from jinja2 import TemplateError, TemplateSyntaxError

    env, bound = _sandbox()

    def raise_exception(message: str) -> None:
        raise _TemplateRaised(message)

    env.globals["raise_exception"] = raise_exception
    try:
        if not isinstance(source, str):
            raise TypeError(f"the template is {type(source).__name__}, not a string")
        template = env.from_string(bound.visit(env.parse(source)))
        out, size = [], 0
        for chunk in template.generate(**context):
            size += len(chunk)
            _fits(size, "the rendered prompt")
            out.append(chunk)
        return "".join(out)
    except TemplateSyntaxError as err:
        raise ValueError(f"{origin}: line {err.lineno}: {err.message}") from None
    except _TemplateRaised as err:
        raise ValueError(f"{origin}: {err}") from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
            RecursionError, MemoryError) as err:
        lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__)
                 if frame.filename == "<template>"]
        where = f": line {lines[-1]}" if lines else ""
        reason = str(err) or type(err).__name__
        if isinstance(err, TemplateLimitError):
            reason = f"stopped: {reason}"
        raise ValueError(f"{origin}{where}: {reason}") from None


