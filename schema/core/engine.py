"""Running GraphQL requests: parse and validate once per distinct document, then execute.

Strawberry builds the schema; execution goes straight to graphql-core with it (what
``strawberry.Schema.execute`` does inside) so that a parsed, validated document is
reused across requests: validation was the largest per-request cost in the prototype
(~1.3 ms). The cache is keyed by the query text alone, which is safe because the rules
are fixed when the engine is built. The cost of an operation without variables cannot
change either, so it is computed with the document, not per request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from inspect import isawaitable
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    Executor,
    FragmentDefinitionNode,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    assert_valid_schema,
    default_field_resolver,
    default_type_resolver,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.values import VariableValues, get_variable_values
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from schema.core.errors import ErrorCode, PublicError
from schema.core.limits import QueryLimits, make_limit_rules, query_cost
from tenants.errors import TenancyError

log = logging.getLogger("saas.graphql")
# graphql-core ends every parser resource-limit error (token count, nesting) with this.
_PARSE_LIMIT_SUFFIX = "Parsing aborted."


class Outcome(Enum):
    EXECUTED = "executed"  # a response with ``data``: HTTP 200
    REQUEST_ERROR = "request_error"  # no ``data``: the request itself was refused
    METHOD_NOT_ALLOWED = "method_not_allowed"  # a mutation over GET


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    query: str
    variables: Mapping[str, Any] | None = None
    operation_name: str | None = None
    read_only: bool = False  # GET may only run queries


@dataclass(slots=True)
class GraphQLResponse:
    outcome: Outcome
    payload: dict[str, Any]
    operation_name: str | None = None
    operation_type: str | None = None
    error_codes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Prepared:
    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    fragments: dict[str, FragmentDefinitionNode]
    # What the executor takes for them (the parser refuses fragment variables, so none
    # has variable signatures): built once with the document, not per request.
    fragment_details: dict[str, FragmentDetails] = field(default_factory=dict)
    # Operation name (None: the lone anonymous one) -> cost, for operations without
    # variables: their cost is a property of the document.
    static_costs: Mapping[str | None, int] = field(default_factory=dict)


def _with_code(error: GraphQLError, code: ErrorCode) -> GraphQLError:
    if error.extensions and "code" in error.extensions:
        return error
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), "code": code.value},
    )


class GraphQLEngine:
    def __init__(
        self,
        schema: strawberry.Schema,
        limits: QueryLimits,
        *,
        introspection: bool,
        cache_size: int = 1024,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self._graphql_schema = schema._schema
        self._hide_suggestions = not introspection
        self._rules = (
            *specified_rules,
            MaybeNullValidationRule,
            OneOfInputValidationRule,
            *make_limit_rules(limits),
            *(() if introspection else (NoSchemaIntrospectionCustomRule,)),
        )
        self._prepare = lru_cache(maxsize=cache_size)(self._prepare_uncached)
        # Executor.build() checks this per request; the executor is made directly instead.
        assert_valid_schema(self._graphql_schema)
        # execute() refuses these per request; the executor is called directly instead.
        if any(self._graphql_schema.get_directive(name) for name in ("defer", "stream")):
            raise ValueError("the engine does not serve incremental delivery (@defer, @stream)")

    def _prepare_uncached(self, query: str) -> _Prepared:
        try:
            document = parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError as error:
            code = (
                ErrorCode.QUERY_TOO_COMPLEX
                if error.message.endswith(_PARSE_LIMIT_SUFFIX)
                else ErrorCode.GRAPHQL_PARSE_FAILED
            )
            return _Prepared(None, (_with_code(error, code),), {})
        errors = validate(
            self._graphql_schema, document, self._rules, hide_suggestions=self._hide_suggestions
        )
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        coded = tuple(_with_code(e, ErrorCode.GRAPHQL_VALIDATION_FAILED) for e in errors)
        if coded:
            return _Prepared(document, coded, fragments)
        details = {name: FragmentDetails(d) for name, d in fragments.items()}
        return _Prepared(
            document, coded, fragments, details, self._static_costs(document, fragments)
        )

    def _static_costs(
        self, document: DocumentNode, fragments: Mapping[str, FragmentDefinitionNode]
    ) -> dict[str | None, int]:
        return {
            (d.name.value if d.name else None): query_cost(self._graphql_schema, d, fragments, None)
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and not d.variable_definitions
        }

    def _cost(
        self, prepared: _Prepared, operation: OperationDefinitionNode, request: GraphQLRequest
    ) -> int:
        name = operation.name.value if operation.name else None
        cost = None if operation.variable_definitions else prepared.static_costs.get(name)
        if cost is None:
            cost = query_cost(
                self._graphql_schema, operation, prepared.fragments, request.variables
            )
        return cost

    async def run(self, request: GraphQLRequest, context: Any) -> GraphQLResponse:
        prepared = self._prepare(request.query)
        if prepared.errors or prepared.document is None:
            name = _operation_name(prepared.document, request.operation_name)
            return _refused(list(prepared.errors), name)
        operation = get_operation_ast(prepared.document, request.operation_name)
        if operation is None:
            message = (
                f"no operation named {request.operation_name[:100]!r}"
                if request.operation_name
                else "the document has several operations: pass operationName"
            )
            return _refused([PublicError(message, ErrorCode.BAD_REQUEST)], None)
        name = operation.name.value if operation.name else None
        kind = operation.operation.value
        variables = self._refuse_before_execution(request, operation)
        if isinstance(variables, GraphQLResponse):
            variables.operation_name, variables.operation_type = name, kind
            return variables
        cost = self._cost(prepared, operation, request)
        extensions = {"cost": {"requested": cost, "maximum": self.limits.max_cost}}
        if cost > self.limits.max_cost:
            error = PublicError(
                f"query cost {cost} exceeds the limit of {self.limits.max_cost}",
                ErrorCode.QUERY_TOO_COMPLEX,
            )
            response = _refused([error], name, kind)
            response.payload["extensions"] = extensions
            return response
        # What execute() does, minus its per-request checks for @defer and @stream (made
        # once in __init__) and the coroutine it wraps around every async result. The
        # base executor (no incremental delivery machinery per request), made directly
        # rather than with Executor.build(), which would look up the operation, collect
        # the fragments and coerce the variables again, all done above or cached.
        executor = Executor(
            self._graphql_schema,
            prepared.fragments,
            prepared.fragment_details,
            None,
            context,
            operation,
            variables,
            default_field_resolver,
            default_type_resolver,
            default_field_resolver,
            hide_suggestions=self._hide_suggestions,
        )
        result: Any = executor.execute_operation()
        if isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)  # the base executor never streams
        return _executed(result, extensions, name, kind, getattr(context, "request_id", None))

    def _refuse_before_execution(
        self, request: GraphQLRequest, operation: OperationDefinitionNode
    ) -> GraphQLResponse | VariableValues:
        """The refusal, or the coerced variables to execute with (coerced here, once)."""
        if operation.operation == OperationType.SUBSCRIPTION:
            error = PublicError("subscriptions are not served over HTTP", ErrorCode.BAD_REQUEST)
            return _refused([error], None)
        if request.read_only and operation.operation != OperationType.QUERY:
            error = PublicError("mutations must be sent with POST", ErrorCode.BAD_REQUEST)
            return GraphQLResponse(Outcome.METHOD_NOT_ALLOWED, {"errors": [error.formatted]})
        if not operation.variable_definitions:
            return VariableValues({}, {})  # request.variables are ignored, as execute() does
        coerced = get_variable_values(
            self._graphql_schema,
            operation.variable_definitions,
            dict(request.variables or {}),
            max_errors=10,
            hide_suggestions=self._hide_suggestions,
        )
        if isinstance(coerced, list):
            return _refused([_with_code(e, ErrorCode.BAD_REQUEST) for e in coerced], None)
        return coerced


def _operation_name(document: DocumentNode | None, requested: str | None) -> str | None:
    """The name to report for a refused document: the one asked for, else the name of
    its only operation (so that metrics of invalid documents keep their operation)."""
    if requested or document is None:
        return requested
    operation = get_operation_ast(document)
    return operation.name.value if operation is not None and operation.name else None


def _refused(
    errors: list[GraphQLError], name: str | None, kind: str | None = None
) -> GraphQLResponse:
    return GraphQLResponse(
        Outcome.REQUEST_ERROR,
        {"errors": [e.formatted for e in errors]},
        name,
        kind,
        [str((e.extensions or {}).get("code", ErrorCode.BAD_REQUEST.value)) for e in errors],
    )


def _executed(
    result: ExecutionResult,
    extensions: dict[str, Any],
    name: str | None,
    kind: str,
    request_id: str | None,
) -> GraphQLResponse:
    payload: dict[str, Any] = {"data": result.data}
    codes: list[str] = []
    if result.errors:
        formatted = [format_execution_error(e, request_id) for e in result.errors]
        codes = [str(e["extensions"]["code"]) for e in formatted]
        payload["errors"] = formatted
    payload["extensions"] = extensions
    return GraphQLResponse(Outcome.EXECUTED, payload, name, kind, codes)


def format_execution_error(error: GraphQLError, request_id: str | None) -> dict[str, Any]:
    """Expected errors keep their message and code; anything else is logged in full and
    masked, with the request id so support can find the log line."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        source = original if isinstance(original, GraphQLError) else error
        extensions = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value, **(source.extensions or {})}
        return {**error.formatted, "extensions": extensions}
    if isinstance(original, TenancyError):
        return {**error.formatted, "extensions": {"code": original.code}}
    log.error(
        "resolver failed",
        exc_info=(type(original), original, original.__traceback__),
        extra={"graphql_path": error.path},
    )
    masked: dict[str, Any] = {"message": "Internal server error"}
    if error.locations:
        masked["locations"] = [loc.formatted for loc in error.locations]
    if error.path:
        masked["path"] = error.path
    masked["extensions"] = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value, "requestId": request_id}
    return masked
