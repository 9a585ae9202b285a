"""Query limits: depth and aliases (validation rules, variable-independent, so they are
cached with the document) and cost (depends on variables such as ``first``, so it is
computed per request over the cached document).

Strawberry has no cost analysis. The model here: every field returning an object costs
1, scalars cost 0, and a connection field multiplies the cost of what is selected under
it by its page size (``first`` or ``last``, capped at the hard page cap). Introspection
is not counted against depth: the standard introspection query nests ``ofType`` deeper
than any real query should, and introspection is off in production anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    is_composite_type,
    value_from_ast_untyped,
)

from schema.core.errors import ErrorCode
from schema.core.pagination import MAX_PAGE_SIZE

_ROOTS = {
    OperationType.QUERY: "query_type",
    OperationType.MUTATION: "mutation_type",
    OperationType.SUBSCRIPTION: "subscription_type",
}


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_cost: int = 1000


def _limit_error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value})


def _fragments(context: ValidationContext) -> dict[str, FragmentDefinitionNode]:
    return {
        d.name.value: d
        for d in context.document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }


def _depth(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> int:
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                continue
            deepest = max(deepest, 1 + _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:  # cycles are another rule's error
                deepest = max(deepest, _depth(fragment.selection_set, fragments, seen | {name}))
    return deepest


def make_limit_rules(limits: QueryLimits) -> tuple[type[ValidationRule], ...]:
    """Build the rule classes once: the validation cache is keyed by them."""

    class MaxDepthRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth = _depth(node.selection_set, _fragments(self.context))
            if depth > limits.max_depth:
                self.report_error(
                    _limit_error(f"query depth {depth} exceeds the limit of {limits.max_depth}")
                )

    class MaxAliasesRule(ValidationRule):
        def enter_document(self, node: Any, *_: Any) -> None:
            self.aliases = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.aliases += 1

        def leave_document(self, node: Any, *_: Any) -> None:
            if self.aliases > limits.max_aliases:
                self.report_error(
                    _limit_error(f"{self.aliases} aliases exceed the limit of {limits.max_aliases}")
                )

    return (MaxDepthRule, MaxAliasesRule)


class _CostWalker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def _page_size(self, node: FieldNode) -> int:
        size = MAX_PAGE_SIZE
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                value = (
                    self.variables.get(argument.value.name.value)
                    if isinstance(argument.value, VariableNode)
                    else value_from_ast_untyped(argument.value)
                )
                if isinstance(value, int) and value >= 0:
                    size = min(value, MAX_PAGE_SIZE)
        return size

    def cost(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        """Fragments on an interface or union count with their own type condition, so
        that a connection under one is multiplied like anywhere else."""
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.cost(selection.selection_set, target)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    total += self.cost(fragment.selection_set, target)
        return total

    def _field_cost(self, node: FieldNode, parent: Any) -> int:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0  # a union selects only __typename directly
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return 0
        multiplier = self._page_size(node) if named.name.endswith("Connection") else 1
        return 1 + multiplier * self.cost(node.selection_set, named)


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
) -> int:
    root = getattr(schema, _ROOTS[operation.operation])
    # A variable the request leaves out takes its declared default, as in execution.
    defaults = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    walker = _CostWalker(schema, fragments, {**defaults, **(variables or {})})
    return walker.cost(operation.selection_set, root)
