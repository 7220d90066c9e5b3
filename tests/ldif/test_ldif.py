"""The LDIF document: streaming, chunking, external ids, schema conformance, processor configuration."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from functions.ldif_sync.ldif import (
    BindingMismatchError,
    ChunkInformation,
    CountingIterator,
    LdifContent,
    LdifHeader,
    ProcessingMode,
    ProcessorConfigurationError,
    check_binding,
    chunk_ldif,
    configurations_equal,
    external_id,
    load_processor_configuration,
    render_ldif,
    stream_ldif,
    validate_processor_configuration,
)
from shared.errors import ConfigurationError
from tests import HANDBOOK

SPEC_PATH = HANDBOOK / "reference" / "integration-api.openapi.yaml"
PROCESSORS_PATH = Path(__file__).resolve().parents[2] / "functions" / "ldif_sync" / "processors.json"


def header(**overrides: Any) -> LdifHeader:
    values: dict[str, Any] = {
        "connector_type": "leanix-functions",
        "connector_id": "cmdb-export",
        "connector_version": "1.0.0",
        "lx_workspace": "0f3e5c1a-1111-4222-8333-444455556666",
        "description": "Nightly CMDB import",
        "custom_fields": {"source": "cmdb"},
    }
    values.update(overrides)
    return LdifHeader(**values)


def contents(count: int) -> list[LdifContent]:
    return [
        LdifContent(
            type="Application",
            id=external_id("cmdb", f"APP-{i:03d}"),
            data={"name": f"App {i} ü", "tags": ["Critical"], "annualCost": 10.5 * i, "itComponents": []},
        )
        for i in range(count)
    ]


class Counted:
    """A generator wrapper that records how many items were pulled and can fail after N."""

    def __init__(self, items: list[LdifContent], fail_after: int | None = None) -> None:
        self.items = items
        self.fail_after = fail_after
        self.pulled = 0

    def __iter__(self) -> Iterator[LdifContent]:
        for item in self.items:
            if self.fail_after is not None and self.pulled == self.fail_after:
                raise RuntimeError("source broke")
            self.pulled += 1
            yield item


# --- header ------------------------------------------------------------------------------------


def test_header_serializes_with_camel_case_keys_and_defaults() -> None:
    assert header().to_dict() == {
        "connectorType": "leanix-functions",
        "connectorId": "cmdb-export",
        "connectorVersion": "1.0.0",
        "lxVersion": "1.0.0",
        "lxWorkspace": "0f3e5c1a-1111-4222-8333-444455556666",
        "description": "Nightly CMDB import",
        "processingDirection": "inbound",
        "processingMode": "partial",
        "customFields": {"source": "cmdb"},
    }


def test_header_rejects_overlong_binding_and_outbound_direction() -> None:
    with pytest.raises(ValueError, match="connector_id"):
        header(connector_id="x" * 501)
    with pytest.raises(ValueError, match="processing_direction"):
        header(processing_direction="outbound")


# --- streaming ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 5])
def test_stream_concatenation_equals_the_non_streamed_document(count: int) -> None:
    items = contents(count)
    streamed = b"".join(stream_ldif(header(), iter(items)))
    assert streamed == render_ldif(header(), items)
    document = json.loads(streamed)
    assert document == {**header().to_dict(), "content": [item.to_dict() for item in items]}


def test_stream_pulls_one_content_per_piece() -> None:
    source = Counted(contents(10))
    pieces = stream_ldif(header(), source)
    next(pieces)
    assert source.pulled == 0  # the header goes out before any content is read
    next(pieces)
    assert source.pulled == 1
    next(pieces)
    assert source.pulled == 2


def test_stream_yields_what_it_has_before_a_failing_source_breaks() -> None:
    source = Counted(contents(10), fail_after=3)
    pieces = stream_ldif(header(), source)
    received = [next(pieces) for _ in range(1 + 3)]  # the header and three contents
    assert received[1].startswith(b'{"type"')
    with pytest.raises(RuntimeError, match="source broke"):
        next(pieces)
    assert source.pulled == 3


def test_stream_refuses_nan_instead_of_writing_invalid_json() -> None:
    bad = LdifContent(type="Application", id="cmdb:x", data={"cost": float("nan")})
    with pytest.raises(ValueError, match="JSON compliant"):
        b"".join(stream_ldif(header(), [bad]))


def test_counting_iterator_reports_how_many_were_streamed() -> None:
    counter = CountingIterator(iter(contents(7)))
    b"".join(stream_ldif(header(), counter))
    assert counter.count == 7


# --- chunking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "size", "expected"),
    [
        (10, 4, [(0, 3), (4, 7), (8, 9)]),
        (8, 4, [(0, 3), (4, 7)]),
        (3, 10, [(0, 2)]),
        (1, 1, [(0, 0)]),
    ],
)
def test_chunk_boundaries(count: int, size: int, expected: list[tuple[int, int]]) -> None:
    items = contents(count)
    chunks = list(chunk_ldif(header(), items, size))
    assert [
        (h.chunk_information.first_data_object, h.chunk_information.last_data_object) for h, _ in chunks
    ] == (
        expected  # type: ignore[union-attr]
    )
    assert all(h.chunk_information and h.chunk_information.max_data_object == count - 1 for h, _ in chunks)
    assert [item for _, chunk in chunks for item in chunk] == items
    first_header = chunks[0][0].to_dict()
    assert first_header["chunkInformation"] == {
        "firstDataObject": 0,
        "lastDataObject": expected[0][1],
        "maxDataObject": count - 1,
    }
    assert first_header["connectorId"] == "cmdb-export"


def test_chunking_is_lazy_with_a_total() -> None:
    source = Counted(contents(10))
    chunks = chunk_ldif(header(), source, 3, total=10)
    _, first = next(chunks)
    assert len(first) == 3
    assert source.pulled == 3


def test_chunking_a_lazy_iterable_needs_the_total() -> None:
    with pytest.raises(TypeError, match="total="):
        next(chunk_ldif(header(), iter(contents(3)), 2))


def test_chunking_detects_a_wrong_total() -> None:
    with pytest.raises(ValueError, match="more than the announced total"):
        list(chunk_ldif(header(), iter(contents(5)), 2, total=3))
    with pytest.raises(ValueError, match="held 2 items"):
        list(chunk_ldif(header(), iter(contents(2)), 2, total=3))


def test_no_contents_no_chunks_and_bad_size_is_refused() -> None:
    assert list(chunk_ldif(header(), [], 5)) == []
    with pytest.raises(ValueError, match="max_items"):
        next(chunk_ldif(header(), contents(1), 0))


def test_chunk_information_rejects_disordered_indexes() -> None:
    with pytest.raises(ValueError, match="firstDataObject"):
        ChunkInformation(first_data_object=3, last_data_object=2, max_data_object=5)


# --- external ids ------------------------------------------------------------------------------


def test_external_id_is_deterministic_and_readable() -> None:
    assert external_id("cmdb", "APP-001") == "cmdb:APP-001"
    assert external_id("cmdb", " APP-001 ") == "cmdb:APP-001"
    assert external_id("cmdb", "a/b c") == "cmdb:a%2Fb%20c"
    # distinct keys never collide, even when they look alike once sanitized
    assert external_id("cmdb", "a b") != external_id("cmdb", "a_b")
    assert external_id("cmdb", "x") != external_id("aws", "x")


def test_long_keys_become_a_fixed_uuid5() -> None:
    key = "k" * 500
    assert external_id("cmdb", key) == external_id("cmdb", key)
    # pinned: a change here would orphan every fact sheet imported with the old id
    namespace = uuid.UUID("6f1c9a52-3d0e-5b8f-9a41-2c7d8e5f0b13")
    assert external_id("cmdb", key) == f"cmdb:uuid5-{uuid.uuid5(namespace, 'cmdb:' + key)}"
    assert len(external_id("cmdb", key)) < 60


@pytest.mark.parametrize(("source", "key"), [("cmdb", "  "), ("CMDB", "x"), ("", "x"), ("a b", "x")])
def test_external_id_refuses_empty_keys_and_bad_sources(source: str, key: str) -> None:
    with pytest.raises(ValueError, match=r"external id|slug"):
        external_id(source, key)


# --- OpenAPI schema ----------------------------------------------------------------------------


class _SpecLoader(yaml.SafeLoader):
    """SOURCES.md: YAML 1.1 reads a bare `=` as the `value` tag; load it as the plain string."""


_SpecLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ldif_validator() -> jsonschema.Draft4Validator:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    components = copy.deepcopy(spec["components"])
    schemas = components["schemas"]
    # The generator wrote Java's `Map<String, Object>` as "values must be objects"; the spec's own
    # Content example has string values, so open the value type for `data` and `customFields`.
    schemas["Content"]["properties"]["data"]["additionalProperties"] = {}
    schemas["LeanIxDataInterchangeFormat"]["allOf"][1]["properties"]["customFields"][
        "additionalProperties"
    ] = {}
    root = {"$ref": "#/components/schemas/LeanIxDataInterchangeFormat", "components": components}
    return jsonschema.Draft4Validator(root)


def test_streamed_ldif_validates_against_the_openapi_schema(
    ldif_validator: jsonschema.Draft4Validator,
) -> None:
    document = json.loads(b"".join(stream_ldif(header(), contents(3))))
    ldif_validator.validate(document)
    for chunk_header, chunk in chunk_ldif(header(processing_mode=ProcessingMode.FULL), contents(5), 2):
        ldif_validator.validate(json.loads(render_ldif(chunk_header, chunk)))


def test_schema_check_is_real(ldif_validator: jsonschema.Draft4Validator) -> None:
    document = json.loads(render_ldif(header(), contents(1)))
    del document["content"][0]["id"]
    assert not ldif_validator.is_valid(document)
    document = json.loads(render_ldif(header(), contents(1)))
    document["processingMode"] = "PARTIAL"
    assert not ldif_validator.is_valid(document)


# --- processor configuration -------------------------------------------------------------------


def shipped() -> dict[str, Any]:
    return json.loads(PROCESSORS_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_shipped_processor_configuration_is_valid_and_binds_the_sample_header() -> None:
    config = load_processor_configuration(PROCESSORS_PATH.read_bytes())
    assert config == shipped()
    check_binding(header(), config)
    types = [processor["processorType"] for processor in config["processors"]]
    assert types == ["inboundFactSheet", "inboundFactSheet", "inboundRelation", "inboundTag"]


def test_binding_mismatch_names_the_field() -> None:
    with pytest.raises(BindingMismatchError, match="connectorVersion") as info:
        check_binding(header(connector_version="2.0.0"), shipped())
    assert "connectorId (" not in str(info.value)
    with pytest.raises(BindingMismatchError, match="processingMode"):
        check_binding(header(processing_mode=ProcessingMode.FULL), shipped())


def _broken(change: Any) -> dict[str, Any]:
    config = shipped()
    change(config)
    return config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("connectorId"), "connectorId: Field required"),
        (lambda c: c.pop("processingMode"), "processingMode: Field required"),
        (lambda c: c.update(processingDirection="outbound"), "processingDirection"),
        (lambda c: c.update(processors=[]), "processors"),
        (lambda c: c["processors"][0].update(processorType="inboundThing"), "unknown processorType"),
        (lambda c: c["processors"][0].pop("processorName"), "processors.0.processorName: Field required"),
        (lambda c: c["processors"][1].pop("filter"), "processors.1.filter: Field required"),
        (lambda c: c["processors"][2].update(run=-1), "processors.2.run"),
        (lambda c: c["processors"][2].pop("to"), "inboundRelation processor needs to"),
        (lambda c: c["processors"][0].pop("identifier"), "inboundFactSheet processor needs identifier"),
        (lambda c: c.update(processingMode="full"), "needs a deletionScope with maximumDeletionRatio"),
        (
            lambda c: c.update(processingMode="full", deletionScope={"factSheets": []}),
            "deletionScope.maximumDeletionRatio: Field required",
        ),
        (
            lambda c: c.update(credentials={"apiToken": "LXT_supersecret"}),
            "credentials: apiToken must not be stored",
        ),
        (lambda c: c.update(processers=[]), "processers: Extra inputs are not permitted"),
    ],
)
def test_invalid_processor_configurations_name_the_problem(change: Any, message: str) -> None:
    with pytest.raises(ProcessorConfigurationError, match=message.replace("(", r"\(")) as info:
        validate_processor_configuration(_broken(change))
    assert isinstance(info.value, ConfigurationError)
    assert "supersecret" not in str(info.value)


def test_full_mode_with_a_deletion_ratio_is_valid() -> None:
    config = _broken(
        lambda c: c.update(
            processingMode="full",
            deletionScope={"maximumDeletionRatio": {"factSheets": 10}, "factSheets": [{"scope": {}}]},
        )
    )
    assert validate_processor_configuration(config)["processingMode"] == "full"


def test_unreadable_processor_file_is_a_configuration_error() -> None:
    with pytest.raises(ProcessorConfigurationError, match="not valid JSON"):
        load_processor_configuration(b"{nope")


def _reordered(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(item) for item in value]
    return value


def test_configurations_equal_ignores_key_order_and_spelled_out_defaults() -> None:
    ours = shipped()
    theirs = _reordered(ours)
    assert list(theirs) != list(ours)
    assert configurations_equal(ours, theirs)
    # what a GET may hand back: defaults spelled out, nulls and empty collections
    theirs["processors"][0]["enabled"] = True
    theirs["processors"][0]["updates"][0]["op"] = "replace"
    theirs["processors"][0]["updates"][0]["optional"] = False
    theirs["processors"][2]["updates"] = []
    theirs["deletionScope"] = None
    theirs.pop("variables")
    assert configurations_equal(ours, theirs)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["processors"][0]["updates"][0]["values"][0].update(expr="${data.title}"),
        lambda c: c["processors"][0].update(enabled=False),
        lambda c: c.update(connectorVersion="1.0.1"),
        lambda c: c["processors"].reverse(),
    ],
)
def test_configurations_equal_sees_real_changes(change: Any) -> None:
    assert not configurations_equal(shipped(), _broken(change))
