"""The embedded store: mongomock, answering from hash maps what MongoDB answers from an index.

mongomock keeps a collection's documents in an insertion-ordered dict keyed by `_id`, and answers
every query by testing every document with its matcher; a cursor copies every match before it
skips and limits, and a TTL index is applied by testing every document on every access. So a get
by id, and the unique-key check of every insert and update, cost time in proportion to the
collection. `IndexedMongoClient` keeps mongomock's documents, matcher, updaters, sorting and
errors, and narrows what they are applied to:

- A filter whose first condition pins `_id`, or the first field of an index, to one plain value
  (no operator, array or pattern) is tested against only the documents holding that value: the
  store's dict answers `_id`, and a hash map from value to ids answers each such field. This is
  every get, update and delete by id in api/crud.py, the query by which mongomock (and
  mongomock-motor, for the error's `keyValue`) checks a unique index on every insert and
  update, and a list filtered by role. A field's map is built by the first query that pins it,
  so memory goes to the fields looked up by value, not to the dates and names that lead indexes
  for ranges and sorts.
- A filter that is the pinned condition, with a string or an id for its value, and otherwise
  only `$exists` tests of top-level fields (the trash's `deleted_at`), is not run through the
  matcher on the documents the map gives for it: each holds an equal string or id, and the
  fields' presence is looked up.
- A cursor copies only the documents it returns, sharing their immutable values (strings,
  numbers, dates, ids) instead of copying each one.
- A TTL index expires documents from a heap of their dates, oldest first.
- A sort whose keys are top-level fields, each holding values of one same type in every document
  it sorts (dates, ids, strings or integers), compares those values themselves instead of
  mongomock's BSON-ordering wrappers; for one type the two orders are the same. Any other sort
  (dotted keys, missing fields, arrays, mixed types) is mongomock's.

Results, errors and their order stay mongomock's because of how its matcher works: it tests a
filter's conditions in order and rejects a document at the first that fails, so a document
without the pinned value is rejected before anything else of the filter is evaluated, and leaving
it out changes no result and raises no error. A map holds the values by which equality is plain
hash equality; while any document of the collection holds an array or a sub-document under the
field (which a query value can match by containment), queries on that field scan as before. Any
other filter scans as before too: lists filtered by other fields, and counts.

mongomock changes a stored document in place, then checks the unique indexes on it: that check
is where the maps take the document's new values; inserts, deletes, rollbacks and expiries reach
them through the store. The classes below are mongomock's own with these hooks added; mongomock
creates its databases, collections and cursors by class name, so `_adopt` gives each one it
makes the subclass (which adds methods only).
"""

import functools
import heapq
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

import mongomock
from bson import ObjectId
from bson.regex import Regex
from mongomock import DuplicateKeyError, helpers
from mongomock.collection import Collection, Cursor, _copy_field
from mongomock.database import Database
from mongomock.filtering import filter_applies
from mongomock.mongo_client import MongoClient
from mongomock.store import (
    CollectionStore,
    DatabaseStore,
    ServerStore,
    _get_min_datetime_from_value,
)

Key = Any  # a store key: the document's _id (a hashdict when the _id is a sub-document)
Document = dict[str, Any]

# A value the matcher may match by more than equality, so it cannot be a hash map's key.
_COMPLEX = object()
# The "projection" under which mongomock's _get_dataset yields the stored documents themselves.
_UNCOPIED = object()

T = TypeVar("T")


def _adopt(instance: Any, subclass: type[T]) -> T:
    """Give an object mongomock made the subclass of its class defined here."""
    if type(instance) is not subclass:
        instance.__class__ = subclass
    return instance


def _plain(value: Any) -> bool:
    """True when a document matches `value` exactly when its value equals it: not an array or a
    sub-document (matched by containment or as operators), not a pattern, and hashable."""
    if isinstance(value, list | tuple | dict | re.Pattern | Regex):
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _indexed_value(document: Document, field: str) -> Any:
    """The document's value of the (dotted) field as a map key: None when it is missing, as the
    matcher sees it, _COMPLEX when an array or a sub-document makes matching more than equality."""
    value: Any = document
    for part in field.split("."):
        if isinstance(value, list | tuple):
            return _COMPLEX
        value = value.get(part) if isinstance(value, dict) else None
    return value if _plain(value) else _COMPLEX


def _first_field(index: dict[str, Any]) -> str:
    return next(iter(index["key"]))[0]  # the keys: (field, direction) pairs, in any iterable


def _only_existence(condition: Any) -> bool:
    """True for `{field: {"$exists": bool}}`: a condition that never raises for any document."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return False
    field, test = next(iter(condition.items()))
    return (
        not field.startswith("$")
        and isinstance(test, dict)
        and test.keys() == {"$exists"}
        and isinstance(test["$exists"], bool)
    )


def _pinned(query: Any) -> tuple[str, Any] | None:
    """The field and value of the condition the matcher tests first, when it is `field: value`
    with a plain value. In a leading `$and`, the first condition that is not a mere `$exists`
    counts: `$and` stops at it, and an `$exists` before it neither raises nor matches a document
    the pinned value excludes. (mongomock checks a partial unique index with
    `{"$and": [partialFilterExpression, {field: value}]}`, api/db.py's `$exists` filter.)"""
    if not isinstance(query, dict) or not query:
        return None
    field, condition = next(iter(query.items()))
    if field == "$and":
        if not isinstance(condition, list):
            return None
        for conjunct in condition:
            if not _only_existence(conjunct):
                return _pinned(conjunct)
        return None
    if field.startswith("$") or not _plain(condition):
        return None
    return field, condition


# Values a copy may share with the stored document: immutable, and copied by mongomock to an
# equal value (copy.copy of a str or an int is the object itself; of a date or an id, its twin).
_SHARED = frozenset({str, int, float, bool, type(None), bytes, datetime, ObjectId})


def _copy(value: Any, container: type) -> Any:
    """mongomock's _copy_field, without copy.copy for the values a copy can share (exact types
    only: a subclass may copy itself differently, so mongomock copies it)."""
    kind = type(value)
    if kind is dict:
        new = container()
        for key, item in value.items():  # shared values inline: most of a document's fields
            new[key] = item if type(item) in _SHARED else _copy(item, container)
        return new
    if kind is list:
        return [item if type(item) in _SHARED else _copy(item, container) for item in value]
    if kind in _SHARED:
        return value
    return _copy_field(value, container)


# Query values that a candidate (a document holding an equal, hashable value) matches whatever
# its type: only a str equals a str, and an ObjectId an ObjectId. Not numbers: 1 == 1.0 == True
# in Python, not in BSON's comparison, so their candidates are still tested.
_SELF_MATCHING = frozenset({str, ObjectId})


def _existence_test(query: dict[str, Any]) -> Callable[[Document], bool] | None:
    """For a filter whose first condition pins a string or an id and whose others are each
    `{field: {"$exists": bool}}` on a top-level field, the test of a candidate (a document
    holding the pinned value): whether each such field is there or not, as mongomock reads it.
    None for any other filter."""
    conditions = iter(query.items())
    _field, value = next(conditions)
    if type(value) not in _SELF_MATCHING:
        return None
    present: list[str] = []
    absent: list[str] = []
    for field, condition in conditions:
        if "." in field or not _only_existence({field: condition}):
            return None
        (present if condition["$exists"] else absent).append(field)
    return lambda document: (
        all(field in document for field in present)
        and not any(field in document for field in absent)
    )


# Types whose own order is BSON's among values of that one type (a string's code points order
# as its UTF-8 bytes do). Not float: NaN orders differently; not bool: it is an int in Python.
_NATIVE_ORDER = frozenset({datetime, ObjectId, str, int})
_MISSING = object()


def _sorted_natively(documents: list[Document], sort: Any) -> list[Document] | None:
    """mongomock's sort (a stable sort per key, last key first) comparing the values
    themselves, when every key is a top-level field holding one type of _NATIVE_ORDER in every
    document; None otherwise, for mongomock's sort."""
    keys = list(sort.items()) if isinstance(sort, dict) else list(sort)
    for key, _direction in keys:
        if not isinstance(key, str) or key.startswith("$") or "." in key:
            return None
        kinds = {type(document.get(key, _MISSING)) for document in documents}
        if len(kinds) > 1 or not kinds <= _NATIVE_ORDER:
            return None
    for key, direction in reversed(keys):
        documents = sorted(documents, key=operator.itemgetter(key), reverse=direction < 0)
    return documents


class _ValueMap:
    """The keys of a collection's documents by their value of one field.

    Built for a field the first time a query pins it, then kept: so a collection holds maps for
    the fields its queries look up by value (a unique key, a list filter), not for every field
    an index leads (dates and names, read by range and sort only)."""

    def __init__(self, field: str, documents: Iterable[tuple[Key, Document]]) -> None:
        self.field = field
        # One key, or a set of them when several documents hold the value: most values (a
        # unique key's) have one document, and a set for each would be most of the map's size.
        self.keys: dict[Any, Key | set[Key]] = {}
        self.value_of: dict[Key, Any] = {}
        self.complex = 0  # how many documents hold _COMPLEX
        # For a value several documents hold (a role): those documents in store order, as a
        # query last listed them, until one of them is written. A list page reads them twice
        # (the page, its count), and every page until the next write of one of them.
        self._listed: dict[Any, list[Document]] = {}
        for key, document in documents:
            self.set(key, document)

    def set(self, key: Key, document: Document) -> None:
        value = _indexed_value(document, self.field)
        self._listed.pop(value, None)  # the document may be another object now (a replace)
        if key in self.value_of:
            old = self.value_of[key]
            if old is value or (old is not _COMPLEX and value is not _COMPLEX and old == value):
                return
            self.discard(key)
        self.value_of[key] = value
        if value is _COMPLEX:
            self.complex += 1
        elif (held := self.keys.get(value, _MISSING)) is _MISSING:
            self.keys[value] = key
        elif type(held) is set:  # a key is hashable, so it is never a set
            held.add(key)
        else:
            self.keys[value] = {held, key}

    def discard(self, key: Key) -> None:
        value = self.value_of.pop(key, _MISSING)
        self._listed.pop(value, None)
        if value is _COMPLEX:
            self.complex -= 1
        elif value is not _MISSING and (held := self.keys.get(value, _MISSING)) is not _MISSING:
            if type(held) is not set:
                del self.keys[value]
            else:
                held.discard(key)
                if len(held) == 1:
                    self.keys[value] = next(iter(held))

    def holders(
        self, value: Any, documents: Mapping[Key, Document], position: Mapping[Key, int]
    ) -> list[Document]:
        """The documents holding `value`, in store order (their `position`). Not to be changed:
        the list may be the one given to earlier queries."""
        held = self.keys.get(value, _MISSING)
        if held is _MISSING:
            return []
        if type(held) is not set:
            return [documents[held]]
        listed = self._listed.get(value)
        if listed is None:
            listed = [documents[key] for key in sorted(held, key=position.__getitem__)]
            self._listed[value] = listed
        return listed


class _Dates:
    """The documents of a collection by the date a TTL index reads from one field, oldest first:
    a heap whose entries are dropped when popped if the document's date changed since."""

    def __init__(self, field: str, partial: Any, documents: Iterable[tuple[Key, Document]]) -> None:
        self.field = field
        self.partial = partial  # the index's partialFilterExpression: it expires only those
        self.heap: list[tuple[datetime, int, Key]] = []
        self.date_of: dict[Key, datetime] = {}
        self._pushes = itertools.count()  # orders equal dates without comparing keys
        for key, document in documents:
            self.set(key, document)

    def set(self, key: Key, document: Document) -> None:
        # mongomock's reading of the field; only a naive datetime (all mongomock stores) can
        # ever be old enough against its naive utcnow(), other values never expire. Nor does
        # datetime.max, which mongomock reads for a missing field (a live user's `deleted_at`,
        # a version's `expire_at`): the heap holds the documents that can expire, not all.
        date = _get_min_datetime_from_value(document.get(self.field))
        if (
            not isinstance(date, datetime)
            or date.tzinfo is not None
            or date == datetime.max
            or (self.partial is not None and not filter_applies(self.partial, document))
        ):
            self.date_of.pop(key, None)
        elif self.date_of.get(key) != date:
            self.date_of[key] = date
            heapq.heappush(self.heap, (date, next(self._pushes), key))

    def discard(self, key: Key) -> None:
        self.date_of.pop(key, None)

    def pop_expired(self, expired: Callable[[datetime], bool]) -> list[Key]:
        """Remove and return the keys whose date `expired` accepts (it accepts older dates)."""
        keys = []
        while self.heap and expired(self.heap[0][0]):
            date, _, key = heapq.heappop(self.heap)
            if self.date_of.get(key) == date:
                del self.date_of[key]
                keys.append(key)
        return keys


class IndexedCollectionStore(CollectionStore):
    """mongomock's documents of one collection, with a value map per field leading an index
    and a heap of dates per TTL field, kept in step with every write and expiry."""

    def __init__(self, name: str) -> None:
        self._mapped: set[str] = set()  # the fields that lead an index: they may have a map
        self._maps: dict[str, _ValueMap] = {}
        self._dates: dict[str, _Dates] = {}
        self._position: dict[Key, int] = {}  # insertion order, as the documents dict keeps it
        self._insertions = itertools.count()
        self._complex_ids: set[Key] = set()
        super().__init__(name)

    # mongomock sets and replaces the index definitions through this attribute.
    @property
    def indexes(self) -> dict[str, dict[str, Any]]:
        return self._indexes

    @indexes.setter
    def indexes(self, indexes: dict[str, dict[str, Any]]) -> None:
        self._indexes = indexes
        self._rebuild_maps()

    def _rebuild_maps(self) -> None:
        # The maps are built again as queries need them, for the fields indexes lead now.
        self._mapped = {_first_field(index) for index in self._indexes.values()} - {"_id"}
        self._maps = {}

    def create_index(self, index_name: str, index_dict: dict[str, Any]) -> None:
        super().create_index(index_name, index_dict)
        self._rebuild_maps()

    def drop_index(self, index_name: str) -> None:
        super().drop_index(index_name)
        self._rebuild_maps()

    def drop(self) -> None:
        super().drop()
        self._dates = {}
        self._position = {}
        self._complex_ids = set()

    def __setitem__(self, key: Key, document: Document) -> None:
        super().__setitem__(key, document)
        if key not in self._position:
            self._position[key] = next(self._insertions)
        self._index(key, document)

    def __delitem__(self, key: Key) -> None:
        super().__delitem__(key)
        del self._position[key]
        self._complex_ids.discard(key)
        for structure in self._structures():
            structure.discard(key)

    def _index(self, key: Key, document: Document) -> None:
        if _plain(document.get("_id")):
            self._complex_ids.discard(key)
        else:
            self._complex_ids.add(key)
        for structure in self._structures():
            structure.set(key, document)

    def _structures(self) -> list["_ValueMap | _Dates"]:
        return [*self._maps.values(), *self._dates.values()]

    def reindex(self, document: Document) -> None:
        """Take the current values of a stored document that was changed in place."""
        key = document.get("_id")
        if isinstance(key, dict):
            key = helpers.hashdict(key)  # as mongomock keys it
        if isinstance(key, list):
            return  # mongomock cannot store an unhashable _id
        if self._documents.get(key) is document:
            self._index(key, document)

    def reindex_all(self) -> None:
        """Take the current values of every stored document."""
        for key, document in self._documents.items():
            self._index(key, document)

    def candidates(self, query: Any) -> list[Document] | None:
        """The stored documents that can match the query, in store order, when its first
        condition pins an indexed field; None when every document must be tested."""
        pinned = _pinned(query)
        if pinned is None:
            return None
        field, value = pinned
        self._remove_expired_documents()
        if not self._documents:
            return None  # mongomock then tests the filter against an empty document
        if field == "_id":
            if self._complex_ids:
                return None
            document = self._documents.get(value)
            return [] if document is None else [document]
        values = self._maps.get(field)
        if values is None:
            if field not in self._mapped:
                return None
            values = self._maps[field] = _ValueMap(field, self._documents.items())
        if values.complex:
            return None
        return values.holders(value, self._documents, self._position)

    def _expire_documents(self, index: dict[str, Any]) -> None:
        # As mongomock's, which ignores a non-integer expiry and compound keys, without the scan.
        try:
            expiry = int(index["expireAfterSeconds"])
        except ValueError:
            return
        if len(index["key"]) > 1:
            return
        field = _first_field(index)
        if field not in self._dates:
            partial = index.get("partialFilterExpression")
            self._dates[field] = _Dates(field, partial, self._documents.items())
        # Looked up when called: tests move the clock through it. (mongomock's own stub, which
        # mypy reads, leaves utcnow out.)
        now = mongomock.utcnow()  # type: ignore[attr-defined]
        for key in self._dates[field].pop_expired(
            lambda date: self._value_meets_expiry(date, expiry, now)
        ):
            del self[key]


def _index_document(
    index_list: list[tuple[str, Any]], options: Mapping[str, Any]
) -> dict[str, Any]:
    """The definition mongomock stores for an index made with these options."""
    document: dict[str, Any] = {"key": index_list}
    if options.get("sparse"):
        document["sparse"] = True
    if options.get("unique"):
        document["unique"] = True
    for option in ("expireAfterSeconds", "partialFilterExpression"):
        if options.get(option) is not None:
            document[option] = options[option]
    return document


def _same_index(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    def normal(index: Mapping[str, Any]) -> dict[str, Any]:
        return {**index, "key": list(index["key"])}

    return normal({k: v for k, v in stored.items() if k != "v"}) == normal(wanted)


class _DatabaseStore(DatabaseStore):
    def __getitem__(self, name: str) -> CollectionStore:
        if name not in self._collections:
            self._collections[name] = IndexedCollectionStore(name)
        return super().__getitem__(name)


class _ServerStore(ServerStore):
    def __getitem__(self, name: str) -> DatabaseStore:
        if name not in self._databases:
            self._databases[name] = _DatabaseStore()
        return super().__getitem__(name)


class _PagedCursor(Cursor):
    """mongomock's cursor, copying only the documents between its skip and its limit."""

    _page: list[Document] | None = None
    _page_of: tuple[Any, ...] | None = None

    def _compute_results(self, with_limit_and_skip: bool = False) -> list[Document]:
        if not with_limit_and_skip:  # every match is wanted (alive, distinct)
            return super()._compute_results(with_limit_and_skip)
        # Computed again when the query changed, or when it found nothing, as mongomock does.
        bounds = (self._factory, self._skip, self._limit)
        if not self._page or self._page_of != bounds:
            collection = self.collection
            matches = list(collection._get_dataset(self._spec, self._sort, _UNCOPIED, dict))
            stop = self._skip + abs(self._limit) if self._limit else None
            page = [
                collection._copy_only_fields(document, self._projection, dict)
                for document in matches[self._skip : stop]
            ]
            if collection.codec_options.tz_aware:
                page = [helpers.make_datetime_timezone_aware_in_document(doc) for doc in page]
            self._page, self._page_of = page, bounds
        return self._page


class IndexedCollection(Collection):
    """mongomock's collection, testing only the candidates its store names for a query."""

    def _iter_documents(self, filter: Any) -> Iterator[Document]:
        documents = self._store.candidates(filter)
        if documents is None:
            return super()._iter_documents(filter)
        test = _existence_test(filter)
        if test is not None:  # the pinned value holds for every candidate: the rest is cheap
            return (document for document in documents if test(document))
        return (document for document in documents if filter_applies(filter, document))

    def _get_dataset(self, spec: Any, sort: Any, fields: Any, as_class: type) -> Iterator[Any]:
        if sort:
            documents = _sorted_natively(list(self._iter_documents(spec)), sort)
            if documents is not None:
                return (self._copy_only_fields(doc, fields, as_class) for doc in documents)
        return super()._get_dataset(spec, sort, fields, as_class)

    def _ensure_uniques(self, new_data: Document) -> None:
        # mongomock has just stored or changed the document in place: index its values first.
        self._store.reindex(new_data)
        super()._ensure_uniques(new_data)

    def _update(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return super()._update(*args, **kwargs)
        except DuplicateKeyError:
            raise  # mongomock has put the document back as it was, through the store
        except Exception:
            # An updater failed part way: mongomock leaves the document as far as it got.
            self._store.reindex_all()
            raise

    def _copy_only_fields(self, doc: Document, fields: Any, container: type) -> Any:
        if fields is _UNCOPIED:
            return doc
        if fields is None:  # the whole document, as mongomock's _copy_field copies it
            return _copy(doc, container)
        return super()._copy_only_fields(doc, fields, container)

    def find(self, *args: Any, **kwargs: Any) -> Cursor:
        return _adopt(super().find(*args, **kwargs), _PagedCursor)

    def create_indexes(self, indexes: list[Any], session: Any = None) -> list[str]:
        # mongomock's passes on some options only, dropping partialFilterExpression.
        return [
            self.create_index(
                list(model.document["key"].items()),
                **{option: value for option, value in model.document.items() if option != "key"},
            )
            for model in indexes
        ]

    def create_index(self, key_or_list: Any, *args: Any, **kwargs: Any) -> str:
        """mongomock's, with MongoDB's reading of two cases: creating an index that exists with
        the same options does nothing (mongomock checks the documents again), and a partial
        unique index is unique among the documents its filter selects (mongomock checks them
        all, so two documents outside the filter would collide on their missing key)."""
        index_list = helpers.create_index_list(key_or_list)
        name = kwargs.get("name") or helpers.gen_index_name(index_list)
        existing = self._store.indexes.get(name)
        partial = kwargs.get("partialFilterExpression")
        if existing is not None and _same_index(existing, _index_document(index_list, kwargs)):
            return str(name)
        if not kwargs.get("unique") or partial is None or existing is not None:
            return str(super().create_index(key_or_list, *args, **kwargs))
        seen: set[Any] = set()
        for document in self._store.documents:
            if not filter_applies(partial, document):
                continue
            key = tuple(_indexed_value(document, field) for field, _ in index_list)
            if _COMPLEX not in key and key in seen:
                raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
            seen.add(key)
        created = str(super().create_index(key_or_list, *args, **{**kwargs, "unique": False}))
        self._store.indexes = {
            **self._store.indexes,
            created: {**self._store.indexes[created], "unique": True},
        }
        return created

    def find_one(self, filter: Any = None, *args: Any, **kwargs: Any) -> Document | None:
        # mongomock's, reading one document as PyMongo does (limit -1), so one is copied.
        if filter is None:
            filter = {}
        elif not isinstance(filter, Mapping):
            filter = {"_id": filter}
        if not args and not kwargs and type(filter) is dict:
            # No projection, sort or skip: the first candidate that matches, without a cursor
            # (reading the filter's dates as mongomock's cursor does).
            filter = helpers.patch_datetime_awareness_in_document(filter)
            documents = self._store.candidates(filter)
            if documents is not None:
                return self._first_copy(filter, documents)
        return next(self.find(filter, *args, **kwargs).limit(-1), None)

    def _first_copy(self, filter: dict[str, Any], documents: list[Document]) -> Document | None:
        # As _iter_documents: a get by id of a live user only asks whether `deleted_at` is there.
        test = _existence_test(filter) or functools.partial(filter_applies, filter)
        for document in documents:
            if test(document):
                found = _copy(document, dict)
                if self.codec_options.tz_aware:
                    found = helpers.make_datetime_timezone_aware_in_document(found)
                return found
        return None

    def with_options(self, *args: Any, **kwargs: Any) -> "IndexedCollection":
        return _adopt(super().with_options(*args, **kwargs), IndexedCollection)


class IndexedDatabase(Database):
    """mongomock's database, whose collections are IndexedCollections."""

    def get_collection(self, *args: Any, **kwargs: Any) -> IndexedCollection:
        return _adopt(super().get_collection(*args, **kwargs), IndexedCollection)

    def with_options(self, *args: Any, **kwargs: Any) -> "IndexedDatabase":
        return _adopt(super().with_options(*args, **kwargs), IndexedDatabase)


class IndexedMongoClient(MongoClient):
    """An in-memory MongoDB client: mongomock's, with the indexed stores of this module.

    Wrap it for asyncio as mongomock-motor's `AsyncMongoMockClient(mock_mongo_client=...)`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, _store=_ServerStore(), **kwargs)

    def get_database(self, *args: Any, **kwargs: Any) -> IndexedDatabase:
        return _adopt(super().get_database(*args, **kwargs), IndexedDatabase)
