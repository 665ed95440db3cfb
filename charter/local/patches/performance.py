"""Costs of moto that grow with the organization or are paid on every request, not wrong
answers: each is a cache, an index or a deferral with the same results
(tests/local/test_moto_patches.py shows each cost on plain moto)."""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from typing import Any


def parse_each_template_once() -> None:
    """moto parses a stack's template (PyYAML's pure-Python loader) for every stack it
    creates or updates, and a StackSet's template is the same text for each of its hundreds
    of instances: a landing zone spent about a tenth of the embedded AWS's time there. Each
    text is parsed once; every stack gets its own deep copy (moto edits what it parsed)."""
    from moto.cloudformation.models import Stack

    original = Stack.parse_template
    if getattr(original, "charter_cached", False):
        return
    parsed: OrderedDict[str, object] = OrderedDict()
    lock = threading.Lock()

    def parse_template(template: str):
        key = hashlib.sha256(template.encode() if isinstance(template, str) else bytes(template)).hexdigest()
        with lock:
            hit = parsed.get(key)
            if hit is not None:
                parsed.move_to_end(key)
        if hit is not None:
            return copy.deepcopy(hit)
        result = original(template)
        with lock:
            parsed[key] = copy.deepcopy(result)
            while len(parsed) > 256:
                parsed.popitem(last=False)
        return result

    parse_template.charter_cached = True  # type: ignore[attr-defined]
    Stack.parse_template = staticmethod(parse_template)


class _LazyPrivateKey:
    """A KMS key's key material, made when it is first used (Sign, Verify, GetPublicKey)."""

    def __init__(self, make, key_spec: str) -> None:
        self._make, self._spec, self._key, self._lock = make, key_spec, None, threading.Lock()

    def __getattr__(self, name: str):
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self._make(self._spec)
        return getattr(self._key, name)


def make_kms_key_material_when_used() -> None:
    """moto generates a 2048-bit RSA private key for every KMS key it creates, symmetric ones
    included (about 0.1 s each; a landing zone makes a key per account and region). The key
    material is made when the key is first used to sign, verify or give its public key."""
    from moto.kms import models

    original = models.generate_private_key
    if isinstance(original, type) or getattr(original, "charter_lazy", False):
        return

    def generate_private_key(key_spec: str):
        return _LazyPrivateKey(original, key_spec)

    generate_private_key.charter_lazy = True  # type: ignore[attr-defined]
    models.generate_private_key = generate_private_key


def regions_once_per_service() -> None:
    """moto asks botocore for a service's regions once per account backend (the endpoint
    data reloaded for every account an organization adds): once per service is enough."""
    from moto.core.base_backend import AccountSpecificBackend

    original = AccountSpecificBackend._generate_regions
    if getattr(original, "charter_cached", False):
        return
    regions: dict[str, list[str]] = {}
    lock = threading.Lock()

    def generate_regions(self, service_name: str) -> list[str]:
        with lock:
            found = regions.get(service_name)
        if found is None:
            found = list(original.__wrapped__(self, service_name))
            with lock:
                regions[service_name] = found
        return list(found)

    generate_regions.charter_cached = True  # type: ignore[attr-defined]
    AccountSpecificBackend._generate_regions = generate_regions


class _FunctionNames:
    """The names of a class's functions (what `inspect.getmembers(cls, inspect.isfunction)`
    lists), answered per name instead of listed: `name in` it is True exactly when the list
    would hold `name`. It looks the class up when asked, so a method added later is seen."""

    __slots__ = ("_cls",)

    def __init__(self, cls: type) -> None:
        self._cls = cls

    def __contains__(self, name: object) -> bool:
        import inspect

        if not isinstance(name, str):
            return False
        # dir(cls) for a class: the names in the __dict__ of the class and of its bases
        owner = next((base for base in inspect.getmro(self._cls) if name in base.__dict__), None)
        if owner is None:
            return False
        try:
            value = getattr(self._cls, name)
        except AttributeError:  # what getmembers falls back to: the first __dict__ that has it
            value = owner.__dict__[name]
        return inspect.isfunction(value)

    def __iter__(self):
        import inspect

        return iter([name for name, _ in inspect.getmembers(self._cls, inspect.isfunction)])


def find_actions_without_listing_the_class() -> None:
    """moto's `call_action` asks whether the action is one of the response class's methods
    by listing them all (`inspect.getmembers`: ~80-140 methods, dir(), a sort, a getattr of
    each) on every request: about 0.3 ms per call, 5% of an embedded-AWS request. The
    question is answered for the one name asked; the answer is the same (see
    `_FunctionNames`)."""
    from moto.core import responses

    original = responses.method_names_from_class
    if getattr(original, "charter_by_name", False):
        return

    def method_names_from_class(clazz):  # type: ignore[no-untyped-def]
        return _FunctionNames(clazz)

    method_names_from_class.charter_by_name = True  # type: ignore[attr-defined]
    responses.method_names_from_class = method_names_from_class


def account_backends_without_the_global_lock() -> None:
    """moto's `BackendDict[account]` takes a process-wide lock and copies the list of the
    service's accounts on every access (several times per request; with an organization's
    thousands of accounts a list of thousands each time) only to find the account is there.
    An account already present is returned by a plain lookup; a missing one is made as moto
    makes it, under its lock. While moto resets (`BackendDict.reset`, which holds that lock
    and then empties every BackendDict) lookups take moto's own path, so they wait for the
    reset as before."""
    from moto.core import base_backend

    BackendDict = base_backend.BackendDict
    original_get, original_reset = BackendDict.__getitem__, BackendDict.reset.__func__
    if getattr(original_get, "charter_fast", False):
        return
    resetting = [0]

    def __getitem__(self, account_id):  # type: ignore[no-untyped-def]
        if not resetting[0]:
            found = dict.get(self, account_id)
            if found is not None:
                return found
        return original_get(self, account_id)

    def reset(cls) -> None:  # type: ignore[no-untyped-def]
        with base_backend.backend_lock:
            resetting[0] += 1
            try:
                original_reset(cls)
            finally:
                resetting[0] -= 1

    __getitem__.charter_fast = True  # type: ignore[attr-defined]
    BackendDict.__getitem__ = __getitem__
    BackendDict.reset = classmethod(reset)


def assumed_role_sessions_by_key() -> None:
    """moto finds the session of an access key (`get_assumed_role_from_access_key`, asked by
    the embedded AWS's permission check for every request it cannot answer from its cache)
    by scanning every role session the account ever started: a Lambda function run assumes
    its role, so the scan grows with every job the local API has run (~0.3 ms per request
    after a few hundred jobs). Sessions are indexed by key as moto appends them (moto only
    appends to `assumed_roles`; a new backend after a reset has a new list, which is indexed
    afresh); the answer is the scan's: the first session with that key, or None."""
    from moto.sts.models import STSBackend

    original = STSBackend.get_assumed_role_from_access_key
    if getattr(original, "charter_indexed", False):
        return
    lock = threading.Lock()

    def get_assumed_role_from_access_key(self, access_key_id: str):  # type: ignore[no-untyped-def]
        roles = self.assumed_roles
        with lock:
            state = self.__dict__.get("_charter_session_index")
            if state is None or state[0] is not roles or state[1] > len(roles):
                state = self.__dict__["_charter_session_index"] = [roles, 0, {}]
            _, seen, index = state
            for role in roles[seen:]:
                index.setdefault(role.access_key_id, role)
            state[1] = len(roles)
            found = index.get(access_key_id)
        if found is not None and found.access_key_id == access_key_id:
            return found
        if found is None:
            return None
        return original(self, access_key_id)  # (moto never re-keys a session) the scan decides

    get_assumed_role_from_access_key.charter_indexed = True  # type: ignore[attr-defined]
    STSBackend.get_assumed_role_from_access_key = get_assumed_role_from_access_key


def pick_attributes_by_remembered_keys() -> None:
    """moto's serializer finds each member of an answer by asking six alias providers (new
    objects each time) which names it might have, for every member of every structure: a
    DynamoDB item's attribute values are structures of ten members each, so a GetItem
    answer asks thousands of times (about a fifth of an embedded-AWS DynamoDB call). For a
    plain dict value the names depend only on the member's shape, its parent shape and the
    providers (a dict has no `Meta` and its class name is always `dict`): they are worked
    out once per shape and reused, in the same order; the value picked is the same.
    Anything else (model objects, providers other than moto's own) is asked as moto asks."""
    from moto.core import serialize

    picker = serialize.XFormedAttributePicker
    original = picker.get_possible_keys
    if getattr(original, "charter_remembered", False):
        return
    no_parent = object()
    # moto's own providers read only the object, the shape (and its parent) and the name
    defaults = tuple(serialize.DEFAULT_ALIAS_PROVIDERS)

    def get_possible_keys(self, context):  # type: ignore[no-untyped-def]
        shape = context.shape
        if type(context.obj) is not dict or shape is None:
            return original(self, context)
        providers = tuple(self.alias_providers)
        if providers != defaults:
            return original(self, context)
        memo = shape.__dict__.get("_charter_possible_keys")
        if memo is None:
            memo = shape.__dict__.setdefault("_charter_possible_keys", {})
        key = (context.key, shape.__dict__.get("parent", no_parent))
        found = memo.get(key)
        if found is None:
            try:
                found = tuple(original(self, context))
            except Exception:  # noqa: BLE001 - moto's lazy order may never reach a provider that raises
                return original(self, context)
            memo[key] = found
        return iter(found)

    get_possible_keys.charter_remembered = True  # type: ignore[attr-defined]
    picker.get_possible_keys = get_possible_keys


def random_string(self, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
    """moto's `MotoRandom.get_random_string`, with `choice` inlined: the same `getrandbits`
    calls in the same order (CPython's `Random.choice` through `_randbelow_with_getrandbits`)."""
    import string

    pool = string.ascii_letters + string.digits if include_digits else string.ascii_letters
    size, getrandbits = len(pool), self.getrandbits
    bits = size.bit_length()
    chars = []
    for _ in range(length):
        r = getrandbits(bits)
        while r >= size:
            r = getrandbits(bits)
        chars.append(pool[r])
    text = "".join(chars)
    return text.lower() if lower_case else text


def request_ids_from_the_same_random_stream() -> None:
    """moto names every answer with a 52-character request id drawn by 52 calls of
    `Random.choice` (each through `_randbelow`): tens of microseconds per request. The
    characters are drawn inline with the same `getrandbits` calls (`random_string`), so the
    same seed (`/moto-api/seed`) still gives the same ids, and every id or name moto draws
    after them."""
    import random

    from moto.moto_api._internal.moto_random import MotoRandom

    if getattr(MotoRandom.get_random_string, "charter_inline", False):
        return
    if MotoRandom._randbelow is not random.Random._randbelow_with_getrandbits or \
            MotoRandom.choice is not random.Random.choice:
        return  # a Python whose Random draws otherwise: moto's own way

    def get_random_string(self, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
        return random_string(self, length, include_digits, lower_case)

    get_random_string.charter_inline = True  # type: ignore[attr-defined]
    MotoRandom.get_random_string = get_random_string


def dynamodb_items_sized_once() -> None:
    """moto checks DynamoDB's 400 KB item limit as it builds an item, attribute by attribute,
    by re-measuring every attribute already set (`LimitedSizeDict.__setitem__`): the work
    grows with the square of the item's attributes (a job record: a tenth of a PutItem's
    CPU). The new item's attributes are measured once each and summed as they are added:
    each attribute is checked against the same total, and the first one that takes the item
    over the limit raises the same `ItemSizeTooLarge` (moto's DynamoType copies what it is
    given, so an attribute's size cannot change while the item is built). Later changes to
    the item (UpdateItem) go through moto's own check."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    item_cls = dynamo_type.Item
    original = item_cls.__init__
    if getattr(original, "charter_sized_once", False):
        return
    DynamoType, LimitedSizeDict = dynamo_type.DynamoType, dynamo_type.LimitedSizeDict

    def __init__(self, hash_key, range_key, attrs):  # type: ignore[no-untyped-def]
        if not all(type(key) is str for key in attrs):
            return original(self, hash_key, range_key, attrs)
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        total = 0  # what moto's check sums each time: every key and value already in the item
        for key, value in attrs.items():
            value = DynamoType(value)
            size = bytesize(key) + value.size()
            if total + size > 405000:  # moto's limit (between AWS's measured 409 and 410 KB)
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, value)
            total += size

    __init__.charter_sized_once = True  # type: ignore[attr-defined]
    item_cls.__init__ = __init__


def pick_dict_members_directly() -> None:
    """For each member of an answer moto's serializer builds a context (joining the whole
    path so far into a string), asks the picker, which asks for the names, then looks each
    one up through a generic getter and matches the path against the response's
    transformers. For a plain dict answered with moto's own picker the member is looked up
    directly under the names `pick_attributes_by_remembered_keys` remembers, in order, and
    the path is built only when the response has transformers to match: the same value,
    transformed the same way. Anything else goes through moto's own path."""
    from moto.core import serialize, utils

    serializer = serialize.ResponseSerializer
    original = serializer.get_value
    if getattr(original, "charter_direct", False):
        return
    picker_cls, MISSING, get_value = serialize.XFormedAttributePicker, utils.MISSING, utils.get_value
    picker_call, defaults = picker_cls.__call__, tuple(serialize.DEFAULT_ALIAS_PROVIDERS)

    def direct(self, value, key, shape):  # type: ignore[no-untyped-def]
        picker = self._value_picker
        if type(value) is not dict or type(picker) is not picker_cls or shape is None or \
                picker_cls.__call__ is not picker_call or tuple(picker.alias_providers) != defaults:
            return original(self, value, key, shape)
        # moto's own providers do not read the path (key_path): it is joined below when needed
        context = serialize.AttributePickerContext(obj=value, key=key, shape=shape, operation_model=self.operation_model,
                                                   service_model=self.service_model)
        found = MISSING
        for name in picker.get_possible_keys(context):
            if "." in name:  # a path: moto's getter walks it
                found = get_value(value, name, MISSING)
            else:
                try:
                    found = value[name]
                except (KeyError, IndexError, TypeError, AttributeError):
                    found = MISSING
            if found is not MISSING:
                break
        else:
            found = None
        if picker.response_transformers:
            key_path = f"{'.'.join(self.path)}.{key}"
            for transform_path, transform in picker.response_transformers.items():
                if key_path.endswith(transform_path):
                    found = transform(found)
                    break
        return found

    direct.charter_direct = True  # type: ignore[attr-defined]
    serializer.get_value = direct


#: What `_as_is` answers for a value it cannot vouch for: moto's own path handles it.
_NOT_AS_IS = object()


def _as_is(value, shape, structure):  # type: ignore[no-untyped-def]
    """`value` as moto's JSON serializer writes it, or its JSON parser reads it, for `shape`,
    when that is the value itself: strings, booleans and integers, in lists and maps, in
    structures that `structure(value, shape)` rebuilds (the one place the two directions
    differ: member names). `_NOT_AS_IS` for anything moto converts or might (blobs,
    timestamps, floats, None, model objects, documents, names bound elsewhere)."""
    kind = shape.type_name
    if kind == "string":
        return value if type(value) is str else _NOT_AS_IS
    if kind == "structure":
        return structure(value, shape)
    if kind == "list":
        member = shape.member
        if type(value) is not list or member.serialization.get("name", member.name) != member.name:
            return _NOT_AS_IS  # moto's serializer would keep such items as they came
        out = []
        for item in value:
            item = _as_is(item, member, structure) if item is not None else _NOT_AS_IS
            if item is _NOT_AS_IS:
                return _NOT_AS_IS
            out.append(item)
        return out
    if kind == "map":
        values = shape.value
        if type(value) is not dict or "name" in values.serialization or shape.key.type_name != "string":
            return _NOT_AS_IS  # (moto's serializer would write every entry under that name)
        out = {}
        for key, item in value.items():
            item = _as_is(item, values, structure) if type(key) is str and item is not None else _NOT_AS_IS
            if item is _NOT_AS_IS:
                return _NOT_AS_IS
            out[key] = item
        return out
    if kind == "boolean":
        return value if type(value) is bool else _NOT_AS_IS
    if kind in ("integer", "long"):
        return value if type(value) is int else _NOT_AS_IS
    return _NOT_AS_IS


def _members_as_is(value, plan, structure):  # type: ignore[no-untyped-def]
    """A structure's members, each read under one name and written under the other
    (`plan`: (read, write, member shape) in the shape's order), a None member left out."""
    out = {}
    for read, write, member in plan:
        item = value.get(read)
        if item is not None:
            item = _as_is(item, member, structure)
            if item is _NOT_AS_IS:
                return _NOT_AS_IS
            out[write] = item
    return out


def _wire_structure(value, shape):  # type: ignore[no-untyped-def]
    """A structure as moto's JSON serializer writes it: its members in the shape's order
    under their serialized names, a None member left out; a dict with a key that is not a
    member is moto's to answer (its picker may read it under an alias)."""
    if type(value) is not dict or shape.is_document_type:
        return _NOT_AS_IS
    plan = _structure_plan(shape)
    if plan is False or not plan[1].issuperset(value):
        return _NOT_AS_IS
    return _members_as_is(value, plan[0], _wire_structure)


def _parsed_structure(value, shape):  # type: ignore[no-untyped-def]
    """A structure as moto's JSON parser reads it: each member read under its serialized
    name, kept under its own, in the shape's order; missing, null and unmodelled keys left out."""
    if type(value) is not dict or shape.is_document_type:
        return _NOT_AS_IS
    plan = shape.__dict__.get("_charter_parse_plan")
    if plan is None:
        plan = tuple((m.serialization.get("name", name), name, m) for name, m in shape.members.items())
        shape.__dict__["_charter_parse_plan"] = plan
    return _members_as_is(value, plan, _parsed_structure)


def _structure_plan(shape):  # type: ignore[no-untyped-def]
    """(member name, output key, member shape) in moto's member order, or False for a shape
    whose members moto may not take from a dict by name alone: a member bound to an HTTP
    location, or two names one alias apart (moto's picker could take one for the other)."""
    plan = shape.__dict__.get("_charter_wire_plan")
    if plan is None:
        members = shape.members
        folded = {name.lower().replace("_", "") for name in members}
        if len(folded) < len(members) or any("location" in m.serialization for m in members.values()):
            plan = False
        else:
            plan = (tuple((name, m.serialization.get("name", name), m) for name, m in members.items()),
                    frozenset(members))
        shape.__dict__["_charter_wire_plan"] = plan
    return plan


def copy_json_answers_already_in_wire_form() -> None:
    """moto's JSON serializer walks every member of an answer's shape for every value: a
    DynamoDB item's attribute values are structures of ten members, so a GetItem of a job
    record asks for some 120 members, each through a context and an alias picker, to copy
    about a dozen strings (two fifths of what the embedded AWS spends on a GetItem, and the
    most of any DynamoDB call the local API makes). Most answers of the JSON protocol
    (DynamoDB, SageMaker, Lambda, STS's JSON) are plain dicts already written as the wire
    wants them: those are copied in the shape's member order, with the members' serialized
    names and moto's own rules (a None member left out), so the JSON is the same bytes.
    A value with anything moto converts (a blob, a timestamp, a float, a model object), an
    answer with response transformers and a shape with HTTP-bound members go moto's way."""
    from moto.core import serialize

    serializer = serialize.JSONSerializer
    original = serializer._serialize_type_structure
    if getattr(original, "charter_as_is", False):
        return
    picker_cls = serialize.XFormedAttributePicker

    def _serialize_type_structure(self, serialized, value, shape, key):  # type: ignore[no-untyped-def]
        if type(value) is dict:
            picker = self._value_picker
            if type(picker) is picker_cls and not picker.response_transformers:
                out = _wire_structure(value, shape)
                if out is not _NOT_AS_IS:
                    if key:
                        serialized[self.get_serialized_name(shape, key)] = out
                    else:
                        serialized.update(out)
                    return
        original(self, serialized, value, shape, key)

    _serialize_type_structure.charter_as_is = True  # type: ignore[attr-defined]
    serializer._serialize_type_structure = _serialize_type_structure


#: Parsed DynamoDB condition expressions kept (each a few hundred bytes of syntax tree).
CONDITIONS_KEPT = 1024


def parse_each_condition_expression_once() -> None:
    """moto lexes and parses a ConditionExpression for every conditional write: about a
    fifth of an embedded-AWS PutItem, and the local API's job store writes conditionally
    every time, with a handful of distinct expressions. moto's parser reads only the
    expression, the names and the values it is made with, and its tree (an `Op`) is only
    evaluated, never changed: the tree and the names and values it found are kept under
    those three and handed out again (the lists as copies, as callers extend them). An
    expression moto rejects raises each time, as before; values that are not plain JSON
    (a binary attribute value) are parsed every time."""
    import json

    from moto.dynamodb import comparisons

    parser = comparisons.ConditionExpressionParser
    original = parser.parse
    if getattr(original, "charter_kept", False):
        return
    kept: dict[tuple[Any, ...], tuple[Any, list[str], list[str]]] = {}

    def parse(self):  # type: ignore[no-untyped-def]
        try:
            key = (self.condition_expression, json.dumps(self.expression_attribute_names, sort_keys=True),
                   json.dumps(self.expression_attribute_values, sort_keys=True))
        except (TypeError, ValueError):
            return original(self)
        found = kept.get(key)
        if found is None:
            names, values = len(self.expr_attr_names_found), len(self.expr_attr_values_found)
            op = original(self)
            found = (op, self.expr_attr_names_found[names:], self.expr_attr_values_found[values:])
            if len(kept) >= CONDITIONS_KEPT:
                kept.clear()
            kept[key] = found
            return op
        self.expr_attr_names_found.extend(found[1])
        self.expr_attr_values_found.extend(found[2])
        return found[0]

    parse.charter_kept = True  # type: ignore[attr-defined]
    parser.parse = parse


def parse_json_requests_already_in_model_form() -> None:
    """moto's JSON parser rebuilds every request member by member through a handler looked
    up by name per value: for a DynamoDB PutItem, one structure per attribute value (a
    seventh of an embedded-AWS PutItem). A request body made only of what the parser keeps
    as it is (strings, booleans, integers, in dicts and lists) is rebuilt in one pass with
    the same result: the same members, the same order, unmodelled keys dropped. Anything
    the parser converts (blobs, timestamps, floats, nulls) goes moto's way."""
    from moto.core import parse

    parser = parse.JSONParser
    original = parser._parse_structure
    if getattr(original, "charter_as_is", False):
        return
    map_type = parser.MAP_TYPE

    def _parse_structure(self, shape, value):  # type: ignore[no-untyped-def]
        if self.MAP_TYPE is map_type is dict:
            out = _parsed_structure(value, shape)
            if out is not _NOT_AS_IS:
                return out
        return original(self, shape, value)

    _parse_structure.charter_as_is = True  # type: ignore[attr-defined]
    parser._parse_structure = _parse_structure


def per_request_costs() -> None:
    """Every patch above that cuts what each request costs (not what the organization's
    size costs): applied together by the embedded AWS, and together by the test that
    compares their answers with plain moto's."""
    find_actions_without_listing_the_class()
    account_backends_without_the_global_lock()
    assumed_role_sessions_by_key()
    pick_attributes_by_remembered_keys()
    pick_dict_members_directly()
    request_ids_from_the_same_random_stream()
    dynamodb_items_sized_once()
    copy_json_answers_already_in_wire_form()
    parse_each_condition_expression_once()
    parse_json_requests_already_in_model_form()
