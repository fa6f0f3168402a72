"""Persisted queries: the PWA sends the SHA-256 of a document from graphql/operations/.

The allowlisted documents are parsed and validated once at startup, so a request for one
skips parsing and validation, which dominate a small query's cost in graphql-core.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from graphql.validation import specified_rules
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema import BaseSchema

from api.resources import bundled_dir
from api.settings import Settings
from graphql import DocumentNode, GraphQLError, parse, validate

OPERATIONS_DIR = bundled_dir("graphql") / "operations"
# The PWA imports the hashes from here (no bundler): generated, drift-tested.
OPERATIONS_MODULE = bundled_dir("pwa") / "js" / "operations.js"


class PersistedQueryError(Exception):
    """A request named a persisted query badly; mapped to a 400 at the HTTP edge."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class PersistedDocument:
    name: str
    text: str
    sha256: str
    document: DocumentNode


class PersistedDocuments:
    """The allowlist: documents by hash and by text."""

    def __init__(self, documents: list[PersistedDocument]) -> None:
        self.by_hash: Mapping[str, PersistedDocument] = {d.sha256: d for d in documents}
        self.by_text: Mapping[str, PersistedDocument] = {d.text: d for d in documents}

    @classmethod
    def load(cls, directory: Path = OPERATIONS_DIR) -> PersistedDocuments:
        documents = []
        for path in sorted(directory.glob("*.graphql")):
            text = path.read_text(encoding="utf-8")
            documents.append(
                PersistedDocument(
                    name=path.stem,
                    text=text,
                    sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                    document=parse(text),
                )
            )
        return cls(documents)

    def check_against(self, schema: BaseSchema, settings: Settings) -> None:
        """Fail startup if an allowlisted document does not validate, limits included.

        Requests for these documents skip validation, so this is where they meet the rules.
        """
        rules = [
            *specified_rules,
            *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
        ]
        problems: list[str] = []
        for doc in self.by_hash.values():
            errors: list[GraphQLError] = list(
                validate(schema._schema, doc.document, rules)  # type: ignore[attr-defined]
            )
            problems.extend(f"{doc.name}: {e.message}" for e in errors)
        if problems:
            raise RuntimeError("invalid persisted operations: " + "; ".join(problems))

    def resolve(
        self, *, query: str | None, extensions: Mapping[str, object] | None, allow_adhoc: bool
    ) -> str:
        """Return the document text to execute for a request, or raise PersistedQueryError."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is not None:
            sha = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
            if not isinstance(sha, str):
                raise PersistedQueryError(
                    "PERSISTED_QUERY_INVALID",
                    "extensions.persistedQuery.sha256Hash must be a hex string.",
                )
            doc = self.by_hash.get(sha.lower())
            if doc is None:
                raise PersistedQueryError(
                    "PERSISTED_QUERY_NOT_FOUND",
                    "Unknown persisted query. Only the operations in graphql/operations/ "
                    "are served; update the app.",
                )
            if query is not None and query != doc.text:
                raise PersistedQueryError(
                    "PERSISTED_QUERY_MISMATCH", "The query text does not match its hash."
                )
            return doc.text
        if query is None:
            raise PersistedQueryError(
                "MISSING_QUERY", "Send a query or extensions.persistedQuery.sha256Hash."
            )
        if not allow_adhoc and query not in self.by_text:
            raise PersistedQueryError(
                "PERSISTED_QUERY_REQUIRED",
                "This server only runs persisted queries; send extensions.persistedQuery.",
            )
        return query

    def extension(self) -> SchemaExtension:
        """A fresh per-request extension (Strawberry shares instances across requests)."""
        return _PreparedDocument(self.by_text)


def operations_module(directory: Path = OPERATIONS_DIR) -> str:
    """The ES module the PWA imports: operation name -> SHA-256 of its document."""
    documents = PersistedDocuments.load(directory).by_hash.values()
    lines = [
        "// Generated by `duo-abroad export-schema` from graphql/operations/. Do not edit.",
        "export const OPERATIONS = Object.freeze({",
        *(f'  {d.name}: "{d.sha256}",' for d in sorted(documents, key=lambda d: d.name)),
        "});",
        "",
    ]
    return "\n".join(lines)


class _PreparedDocument(SchemaExtension):
    """Hands Strawberry the pre-parsed document and skips re-validating it."""

    def __init__(self, by_text: Mapping[str, PersistedDocument]) -> None:
        self._by_text = by_text
        self._prepared = False

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        doc = self._by_text.get(query) if query is not None else None
        if doc is not None:
            self.execution_context.graphql_document = doc.document
            self._prepared = True
        yield

    def on_validate(self) -> Iterator[None]:
        if self._prepared:
            # Validated against this schema at startup (check_against): nothing can differ.
            self.execution_context.pre_execution_errors = []
        yield
