"""A sandboxed interpreter for model-written policy programs (Code as Policies).

The program is parsed with `ast.parse` and then *walked* by this module: nothing is ever
compiled or handed to `exec`/`eval`. The language is a small subset of Python:

- literals (short strings, bounded numbers, `True`/`False`/`None`), names, lists and tuples;
- `+ - * / // %` on numbers (`+` also joins bounded strings and lists), comparisons,
  `and`/`or`/`not`, `x if c else y`, indexing `xs[i]`;
- assignments to plain names (`x = ...`, `a, b = ...`, `x += 1`), `if`/`elif`/`else`,
  `for NAME in <list or range>` with `break`/`continue`, `pass`;
- calls of the functions the robot API offers (and `len`, `range`, `min`, `max`, `abs`,
  `sorted`), positional arguments only. A skill call is a statement of its own.

Everything else is refused before the program runs, each with a one-line reason: imports,
attribute access (so no `__class__` chains on any value), names starting with `_`, function or
class definitions, lambdas, comprehensions, `while`, `try`, `with`, f-strings, starred
arguments, keyword arguments, `**`, dicts and sets, slices. While it runs, every evaluated
node costs one step from a budget, `range` and sequences are bounded, numbers stay finite and
below `max_int`, and a value nested in lists holds at most `max_value_size` items and characters
in all (so one comparison or sort cannot walk an exponentially shared structure): an endless
or huge program is stopped with a reason, not a hang.

`Interpreter.run` is a Python generator over the program's skill calls, so a planner can hand
the robot one call at a time and let the program continue on the next perceived scene.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields

from saycan.errors import ConfigError, SayCanError
from saycan.skills.types import SkillCall


class ProgramRefused(SayCanError):
    """A policy program the sandbox will not run (or stopped): the message is one line."""


@dataclass(frozen=True)
class SandboxLimits:
    """Bounds on a program's size and on what running it may cost."""

    max_chars: int = 4000  # source text
    max_nodes: int = 1500  # AST nodes
    max_depth: int = 30  # AST nesting (the walker recurses over it)
    max_steps: int = 20_000  # evaluated nodes over the whole run
    max_range: int = 1000  # items one range() may yield
    max_sequence: int = 1000  # items of a list or characters of a string built at run time
    # Items and characters of one value counted through every nesting level, each shared
    # reference again: `a = [a, a]` doubles it, and comparing or printing such a value walks
    # all of it, so without this bound twenty lines could hang the run in one step.
    max_value_size: int = 4000
    max_literal: int = 200  # characters of one string literal
    max_int: int = 10**9  # magnitude of any number

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"planner.limits.{f.name} must be a whole number >= 1, got {value!r}"
                )


#: Builtins a program may call besides the robot API (all pure, all bounded by the limits).
BUILTINS = ("len", "range", "min", "max", "abs", "sorted")

_BINOPS: dict[type, Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_CMPOPS: dict[type, Callable] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_UNARY: dict[type, Callable] = {
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}

#: Node types the walker knows; contexts and operators are checked where they occur.
_ALLOWED = (
    ast.Module,
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.If,
    ast.For,
    ast.Break,
    ast.Continue,
    ast.Pass,
    ast.Constant,
    ast.Name,
    ast.List,
    ast.Tuple,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Subscript,
    ast.Load,
    ast.Store,
    ast.And,
    ast.Or,
    *_BINOPS,
    *_CMPOPS,
    *_UNARY,
)

#: Why a construct is refused, in words a reader of the trace understands.
_REFUSED: dict[type, str] = {
    ast.Import: "imports are not allowed",
    ast.ImportFrom: "imports are not allowed",
    ast.Attribute: "attribute access (`.name`) is not allowed",
    ast.While: "`while` loops are not allowed; loop with `for` over a list or a range",
    ast.FunctionDef: "defining functions is not allowed",
    ast.AsyncFunctionDef: "defining functions is not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ClassDef: "defining classes is not allowed",
    ast.ListComp: "comprehensions are not allowed; use a for loop",
    ast.SetComp: "comprehensions are not allowed; use a for loop",
    ast.DictComp: "comprehensions are not allowed; use a for loop",
    ast.GeneratorExp: "comprehensions are not allowed; use a for loop",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.Starred: "starred expressions (`*x`) are not allowed",
    ast.Pow: "`**` is not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Slice: "slices are not allowed; index one item",
    ast.Del: "`del` is not allowed",
    ast.Delete: "`del` is not allowed",
    ast.Try: "`try` is not allowed",
    ast.Raise: "`raise` is not allowed",
    ast.With: "`with` is not allowed",
    ast.Global: "`global` is not allowed",
    ast.Nonlocal: "`nonlocal` is not allowed",
    ast.NamedExpr: "`:=` is not allowed",
    ast.Return: "`return` is not allowed",
    ast.Yield: "`yield` is not allowed",
    ast.Await: "`await` is not allowed",
    ast.Assert: "`assert` is not allowed",
}


def _where(node: ast.AST) -> str:
    line = getattr(node, "lineno", None)
    return f"line {line}: " if line is not None else ""


def check_program(
    source: str,
    functions: Mapping[str, object],
    skills: frozenset[str],
    limits: SandboxLimits = SandboxLimits(),
) -> ast.Module:
    """Parse and statically check `source`; returns the tree or raises `ProgramRefused`.

    `functions`: the names a program may call (robot API and builtins); `skills`: those of them
    that command the robot, which must be statements of their own (their value is nothing)."""
    if not isinstance(source, str):
        raise ProgramRefused("the program is not text")
    if len(source) > limits.max_chars:
        raise ProgramRefused(
            f"the program is {len(source)} characters long; the limit is {limits.max_chars}"
        )
    if not source.strip():
        raise ProgramRefused("the program is empty")
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        at = f"line {exc.lineno}: " if exc.lineno is not None else ""  # NUL bytes: no line
        raise ProgramRefused(f"{at}not valid Python ({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise ProgramRefused(f"cannot parse the program ({type(exc).__name__})") from None
    try:
        _Checker(functions, skills, limits).check(tree)
    except RecursionError:  # only reachable with planner.limits.max_depth raised far
        raise ProgramRefused("the program nests too deeply to check") from None
    return tree


class _Checker:
    """The static checks: allowed node types, names, calls, literals, nesting and size."""

    def __init__(
        self, functions: Mapping[str, object], skills: frozenset[str], limits: SandboxLimits
    ):
        self.functions, self.skills, self.limits = functions, skills, limits
        self.nodes = 0

    def check(self, tree: ast.Module) -> None:
        self._visit(tree, None, 0)

    def _visit(self, node: ast.AST, parent: ast.AST | None, depth: int) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise ProgramRefused(f"the program has more than {self.limits.max_nodes} syntax nodes")
        if depth > self.limits.max_depth:
            raise ProgramRefused(
                f"{_where(node)}the program nests deeper than {self.limits.max_depth} levels"
            )
        if type(node) in _REFUSED:
            raise ProgramRefused(f"{_where(node) or _where(parent or node)}{_REFUSED[type(node)]}")
        if not isinstance(node, _ALLOWED):
            what = type(node).__name__
            raise ProgramRefused(f"{_where(node) or _where(parent or node)}`{what}` is not allowed")
        self._node_rules(node, parent)
        for child in ast.iter_child_nodes(node):
            self._visit(child, node, depth + 1)

    def _node_rules(self, node: ast.AST, parent: ast.AST | None) -> None:
        at = _where(node)
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise ProgramRefused(f"{at}names starting with `_` are not allowed ({node.id})")
            if isinstance(node.ctx, ast.Store) and (
                node.id in self.functions or node.id in ("True", "False", "None")
            ):
                raise ProgramRefused(
                    f"{at}`{node.id}` is part of the robot API and cannot be assigned"
                )
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or value is None:
                return
            if isinstance(value, str):
                if len(value) > self.limits.max_literal:
                    raise ProgramRefused(
                        f"{at}a string literal is longer than {self.limits.max_literal} characters"
                    )
            elif isinstance(value, (int, float)):
                if not math.isfinite(value) or abs(value) > self.limits.max_int:
                    raise ProgramRefused(f"{at}the number {str(value)[:20]} is out of range")
            else:
                raise ProgramRefused(f"{at}{type(value).__name__} literals are not allowed")
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                raise ProgramRefused(f"{at}{_REFUSED[ast.Attribute]}")
            if not isinstance(node.func, ast.Name):
                raise ProgramRefused(f"{at}only functions of the robot API may be called")
            name = node.func.id
            if name not in self.functions:
                raise ProgramRefused(f"{at}`{name}` is not a function of the robot API")
            if node.keywords:
                raise ProgramRefused(
                    f"{at}keyword arguments are not allowed; pass arguments by position"
                )
            if name in self.skills and not (isinstance(parent, ast.Expr) and parent.value is node):
                raise ProgramRefused(f"{at}a skill call (`{name}`) must be a statement of its own")
        elif isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
            raise ProgramRefused(f"{at}assigning into a list item is not allowed")
        elif isinstance(node, ast.For) and node.orelse:
            raise ProgramRefused(f"{at}`for ... else` is not allowed")
        elif isinstance(node, (ast.Assign, ast.For)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names = t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]
                if not all(isinstance(n, ast.Name) for n in names):
                    raise ProgramRefused(f"{at}only plain names can be assigned (not list items)")
        elif isinstance(node, ast.AugAssign) and not isinstance(node.target, ast.Name):
            raise ProgramRefused(f"{at}only plain names can be assigned")
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mult)
            and any(
                isinstance(side, (ast.List, ast.Tuple))
                or (isinstance(side, ast.Constant) and isinstance(side.value, str))
                for side in (node.left, node.right)
            )
        ):
            raise ProgramRefused(f"{at}multiplying text or lists is not allowed")


#: What evaluating plain values can raise (RecursionError: comparing lists nested 5000 deep).
_PYTHON_ERRORS = (
    TypeError,
    ValueError,
    IndexError,
    ZeroDivisionError,
    KeyError,
    OverflowError,
    RecursionError,
    MemoryError,
)


def _refusal(line: int, exc: BaseException) -> ProgramRefused:
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return ProgramRefused(f"line {line}: {type(exc).__name__}: {text}")


#: Sizes of sandbox values remembered at once (each holds its value alive: a bounded amount).
_SIZE_CACHE = 2048


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Interpreter:
    """Runs a checked program: a generator of the `SkillCall`s it makes, in order.

    `functions` maps each callable name to a Python function over plain values (the robot
    API's queries read the scene the planner last handed over); `skills` are the names whose
    call is yielded as a `SkillCall` instead of being called. Runtime errors (a wrong type, an
    unknown object, a budget exceeded) raise `ProgramRefused` with the line."""

    def __init__(
        self,
        tree: ast.Module,
        functions: Mapping[str, Callable],
        skills: frozenset[str],
        limits: SandboxLimits = SandboxLimits(),
    ):
        self.tree, self.functions, self.skills, self.limits = tree, functions, skills, limits
        self.variables: dict[str, object] = {}
        self.steps = 0
        # id -> (list or tuple, its size): sandbox values are never mutated in place, so a size
        # is computed once; the value is kept so that its id is not reused. The oldest entries
        # are dropped past _SIZE_CACHE (a dropped value is sized again if used again).
        self._sizes: dict[int, tuple[object, int]] = {}
        self.line = 0

    def run(self) -> Iterator[SkillCall]:
        try:
            yield from self._block(self.tree.body)
        except (_Break, _Continue):
            raise ProgramRefused(f"line {self.line}: `break`/`continue` outside a loop") from None
        except _PYTHON_ERRORS as exc:  # raised outside an expression, e.g. by `x //= 0`
            raise _refusal(self.line, exc) from None

    # -- statements ------------------------------------------------------------------------------
    def _block(self, body: list[ast.stmt]) -> Iterator[SkillCall]:
        for stmt in body:
            self._tick(stmt)
            if (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Call)
                and stmt.value.func.id in self.skills
            ):
                args = [self._eval(a) for a in stmt.value.args]
                if not all(isinstance(a, str) for a in args):
                    raise ProgramRefused(
                        f"line {stmt.lineno}: {stmt.value.func.id}() takes names (text) as "
                        "arguments"
                    )
                yield SkillCall(stmt.value.func.id, tuple(args))
            elif isinstance(stmt, ast.Expr):
                self._eval(stmt.value)
            elif isinstance(stmt, ast.Assign):
                value = self._eval(stmt.value)
                for target in stmt.targets:
                    self._assign(target, value)
            elif isinstance(stmt, ast.AugAssign):
                current = self._name(stmt.target)
                self._assign(
                    stmt.target, self._binop(stmt.op, current, self._eval(stmt.value), stmt)
                )
            elif isinstance(stmt, ast.If):
                yield from self._block(
                    stmt.body if self._truth(self._eval(stmt.test)) else stmt.orelse
                )
            elif isinstance(stmt, ast.For):
                yield from self._for(stmt)
            elif isinstance(stmt, ast.Break):
                raise _Break
            elif isinstance(stmt, ast.Continue):
                raise _Continue
            # ast.Pass: nothing to do

    def _for(self, stmt: ast.For) -> Iterator[SkillCall]:
        items = self._eval(stmt.iter)
        if not isinstance(items, (list, tuple, range, str)):
            raise ProgramRefused(
                f"line {stmt.lineno}: a for loop runs over a list or a range, not "
                f"{type(items).__name__}"
            )
        for item in items:
            self._assign(stmt.target, item)
            try:
                yield from self._block(stmt.body)
            except _Break:
                break
            except _Continue:
                continue

    def _assign(self, target: ast.expr, value: object) -> None:
        if isinstance(target, ast.Name):
            self.variables[target.id] = value
            return
        values = list(value) if isinstance(value, (list, tuple)) else None
        if values is None or len(values) != len(target.elts):
            raise ProgramRefused(
                f"line {target.lineno}: cannot unpack into {len(target.elts)} names"
            )
        for t, v in zip(target.elts, values):
            self._assign(t, v)

    # -- expressions -----------------------------------------------------------------------------
    def _tick(self, node: ast.AST) -> None:
        self.line = getattr(node, "lineno", self.line)
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise ProgramRefused(
                f"line {self.line}: the program ran more than {self.limits.max_steps} steps "
                "(an endless or very long loop)"
            )

    def _eval(self, node: ast.expr) -> object:
        self._tick(node)
        try:
            return self._value(node)
        except ProgramRefused:
            raise
        except _PYTHON_ERRORS as exc:
            raise _refusal(self.line, exc) from None

    def _value(self, node: ast.expr) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self._eval(e) for e in node.elts]
            return self._sized(items if isinstance(node, ast.List) else tuple(items), node)
        if isinstance(node, ast.BinOp):
            return self._binop(node.op, self._eval(node.left), self._eval(node.right), node)
        if isinstance(node, ast.UnaryOp):
            return self._number(_UNARY[type(node.op)](self._eval(node.operand)), node)
        if isinstance(node, ast.BoolOp):
            value: object = None
            for operand in node.values:
                value = self._eval(operand)
                if self._truth(value) == isinstance(node.op, ast.Or):
                    return value
            return value
        if isinstance(node, ast.Compare):
            left = self._eval(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                right = self._eval(comparator)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self._eval(node.body if self._truth(self._eval(node.test)) else node.orelse)
        if isinstance(node, ast.Subscript):
            seq, index = self._eval(node.value), self._eval(node.slice)
            if (
                not isinstance(seq, (list, tuple, str))
                or not isinstance(index, int)
                or isinstance(index, bool)
            ):
                raise ProgramRefused(
                    f"line {node.lineno}: only lists, tuples and text can be indexed, by a whole "
                    "number"
                )
            return seq[index]
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ProgramRefused(
            f"line {node.lineno}: `{type(node).__name__}` is not allowed"
        )  # checked away

    def _name(self, node: ast.Name) -> object:
        if node.id in self.variables:
            return self.variables[node.id]
        if node.id in self.functions:
            raise ProgramRefused(f"line {node.lineno}: `{node.id}` is a function; call it")
        raise ProgramRefused(f"line {node.lineno}: `{node.id}` is not defined")

    def _call(self, node: ast.Call) -> object:
        name = node.func.id
        if name in self.skills:
            raise ProgramRefused(
                f"line {node.lineno}: a skill call (`{name}`) must be a statement of its own"
            )
        args = [self._eval(a) for a in node.args]
        if name == "range":
            if (
                not all(isinstance(a, int) and not isinstance(a, bool) for a in args)
                or not 1 <= len(args) <= 3
            ):
                raise ProgramRefused(f"line {node.lineno}: range() takes 1 to 3 whole numbers")
            r = range(*args)
            if len(r) > self.limits.max_range:
                raise ProgramRefused(
                    f"line {node.lineno}: range() of {len(r)} items; the limit is "
                    f"{self.limits.max_range}"
                )
            return r
        if name in ("min", "max", "sorted") and len(args) == 1 and isinstance(args[0], range):
            args = [list(args[0])]
        value = self.functions[name](*args)
        return self._bounded(value, node)

    def _binop(self, op: ast.operator, left: object, right: object, node: ast.AST) -> object:
        numbers = all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)
        )
        if not numbers:
            same = type(left) is type(right) and isinstance(left, (str, list, tuple))
            if not (isinstance(op, ast.Add) and same):
                raise ProgramRefused(f"{_where(node)}`{type(op).__name__}` needs two numbers here")
            if len(left) + len(right) > self.limits.max_sequence:
                raise ProgramRefused(
                    f"{_where(node)}the result would be longer than {self.limits.max_sequence} "
                    "items"
                )
            joined = _BINOPS[type(op)](left, right)
            if isinstance(joined, (list, tuple)):  # both parts are sized: no walk over items
                self._remember(joined, self._size(left) + self._size(right) - 1)
            return self._sized(joined, node)
        return self._number(_BINOPS[type(op)](left, right), node)

    def _number(self, value: object, node: ast.AST) -> object:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and (not math.isfinite(value) or abs(value) > self.limits.max_int):
            raise ProgramRefused(
                f"{_where(node)}a number went out of range (above {self.limits.max_int})"
            )
        return value

    def _bounded(self, value: object, node: ast.AST) -> object:
        if isinstance(value, (list, tuple, str)) and len(value) > self.limits.max_sequence:
            raise ProgramRefused(
                f"{_where(node)}a result longer than {self.limits.max_sequence} items"
            )
        return self._number(self._sized(value, node), node)

    def _sized(self, value: object, node: ast.AST) -> object:
        """`value`, refused when it holds more than `max_value_size` items and characters."""
        if self._size(value) > self.limits.max_value_size:
            raise ProgramRefused(
                f"{_where(node)}a value holding more than {self.limits.max_value_size} items and "
                "characters in all (nested lists included)"
            )
        return value

    def _size(self, value: object) -> int:
        if isinstance(value, str):
            return max(1, len(value))
        if not isinstance(value, (list, tuple)):
            return 1
        known = self._sizes.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        size = 1
        for item in value:  # items were sized when made; API results are flat
            size += self._size(item)
            if size > self.limits.max_value_size:
                break  # stop walking: already too large
        self._remember(value, size)
        return size

    def _remember(self, value: object, size: int) -> None:
        self._sizes[id(value)] = (value, size)
        if len(self._sizes) > _SIZE_CACHE:
            del self._sizes[next(iter(self._sizes))]

    @staticmethod
    def _truth(value: object) -> bool:
        return bool(value)
