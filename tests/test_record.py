"""The record package: a case and its id, the figures, a record and a meta.json read
and written back byte for byte (both formats), format 1 read as format 2, the typed host
and fleet sections, and each rule of bench.record.series on a case where it could go
wrong."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bench.record.case import Case, read_case
from bench.record.figures import Clocks, Measured, Memory, Timing
from bench.record.run import FORMAT_VERSION, CaseRecord, RunMeta
from bench.record.sections import FleetSection, HostSection
from bench.record.series import (
    as_label,
    card_budget,
    card_need,
    fits,
    input_key,
    interval,
    label_problem,
    legend_label,
    series_key,
    setting_label,
    table_groups,
    table_title,
    untiled_partner,
)
from bench.strict import Invalid, Newer, Obj
from tests.conftest import REFERENCE, REFERENCE_H200, REFERENCE_H200_DOCS

KNOBS = (("tile_sample_min_size", 256),)


def make(size=512, tiled=False, variant=None, tiling=None, dtype="float16", batch=1, frames=None) -> Case:
    return Case(
        model="sd-v1",
        op="decode",
        width=size,
        height=size,
        frames=frames,
        batch=batch,
        dtype=dtype,
        tiled=tiled,
        tiling=(tiling or KNOBS) if tiled else None,
        variant=variant,
    )


def lines(run) -> list[str]:
    return (run / "cases.jsonl").read_text().splitlines()


def meta_text(meta: RunMeta) -> str:
    """meta.json as the store writes it."""
    return json.dumps(meta.to_json(), indent=2, allow_nan=False) + "\n"


# -- a case ---------------------------------------------------------------------------


def test_a_case_hashes_to_the_id_its_run_stored():
    for line in lines(REFERENCE_H200_DOCS):
        stored = json.loads(line)
        assert read_case(Obj(stored)).case_id == stored["case_id"]


def test_a_case_of_no_variant_hashes_as_before_variants_existed():
    plain = make()
    assert "variant" not in plain.params()
    channels_last = make(variant=(("channels_last", True),))
    assert channels_last.case_id != plain.case_id
    assert Case.from_params(channels_last.params()) == channels_last


def test_a_variant_splits_into_its_axes_and_its_swept_tiling():
    c = make(tiled=True, variant=(("channels_last", True), ("tile_sample_min_size", 256)))
    assert c.axes == (("channels_last", True),)
    assert c.swept_tiling == (("tile_sample_min_size", 256),)
    assert c.axis("channels_last") is True and c.axis("compile") == "none"


@pytest.mark.parametrize(
    "field, value",
    [
        ("width", 0),
        ("op", "blend"),
        ("dtype", "float8"),
        ("batch", 5000),
        ("model", "../x"),
        ("model", "sd-v1\n"),
    ],
)
def test_a_stored_case_out_of_its_bounds_is_refused(field, value):
    stored = json.loads(lines(REFERENCE_H200_DOCS)[0])
    with pytest.raises(Invalid, match=field):
        read_case(Obj({**stored, field: value}))


def test_a_knob_name_that_is_no_name_is_refused():
    stored = json.loads(lines(REFERENCE_H200_DOCS)[1])
    with pytest.raises(Invalid, match="tiling"):
        read_case(Obj({**stored, "tiling": {"Tile Size": 256}}))


# -- the figures ----------------------------------------------------------------------


def test_each_metric_names_its_own_peak():
    mem = Memory(peak_allocated=1, peak_reserved=2, nvml_peak_used=10, nvml_baseline_used=4, process_peak=3)
    peaks = {m: replace(mem, metric=m).peak for m in ("allocated", "reserved", "nvml", "process")}
    assert peaks == {"allocated": 1, "reserved": 2, "nvml": 6, "process": 3}
    assert replace(mem, metric="reserved", total=8).with_percent().percent == 25.0
    assert replace(mem, nvml_baseline_used=None, metric="nvml").peak is None


def test_a_timing_whose_interval_misses_its_median_is_refused():
    t = Timing.of([0.1, 0.11, 0.09, 0.1, 0.12, 0.1, 0.1]).to_json()
    assert Timing.from_json(t) == Timing.of([0.1, 0.11, 0.09, 0.1, 0.12, 0.1, 0.1])
    with pytest.raises(Invalid, match="does not hold the median"):
        Timing.from_json({**t, "ci_low": t["median"] * 1.5, "ci_high": t["median"] * 2})


def test_clocks_say_only_the_reasons_that_slow_the_gpu():
    assert Clocks(throttle=("hw_thermal_slowdown", "sw_power_cap")).throttled == "thermal (HW), power cap"
    assert Clocks().throttled is None


def test_a_record_takes_a_measurement_whole():
    m = Measured(0.5, 3, 0.2, Timing.of([0.1] * 6), True, Memory(process_peak=7, metric="process"))
    assert isinstance(m.values()["time"], Timing)  # not turned into a dict
    r = CaseRecord.new(make(), measured=m, device="cpu", status="ok", weights="random")
    assert (r.first_call_s, r.warmup_calls, r.warmup_s, r.time, r.precision_met, r.mem) == (
        0.5,
        3,
        0.2,
        m.time,
        True,
        m.mem,
    )
    # a field given by name wins over the measurement's
    assert CaseRecord.new(make(), measured=m, status="ok", weights=None, device=None, clocks=Clocks()).clocks
    assert (
        r.to_json()
        == CaseRecord.new(make(), status="ok", weights="random", device="cpu", **m.values()).to_json()
    )


# -- records and meta.json, byte for byte -------------------------------------------------


def test_a_record_this_writer_wrote_is_written_back_byte_for_byte():
    r = CaseRecord.new(
        make(tiled=True, variant=(("channels_last", True),)),
        measured=Measured(0.5, 3, 0.2, Timing.of([0.1, 0.11, 0.09, 0.1, 0.12, 0.1]), False, Memory(total=9)),
        weights="random",
        device="cuda:0",
        status="ok",
        quality_s=0.25,
    )
    line = json.dumps(r.to_json(), separators=(",", ":"))
    assert json.dumps(CaseRecord.from_json(json.loads(line)).to_json(), separators=(",", ":")) == line


@pytest.mark.parametrize(
    "run", [REFERENCE_H200_DOCS, REFERENCE, REFERENCE_H200], ids=["format2", "cpu1", "h200-1"]
)
def test_every_stored_record_is_written_back_with_nothing_lost(run):
    for line in lines(run):
        record = CaseRecord.from_json(json.loads(line))
        old, written = json.loads(line), record.to_json()
        assert written["format"] == FORMAT_VERSION
        for key, value in old.items():
            if key in ("time_s", "mem") and value is not None:
                assert {k: written[key][k] for k in value} == value
            else:
                assert written[key] == value, key
        if record.format == FORMAT_VERSION:
            # in its order; a field of a later version 2 (quality_s) comes as null
            assert [k for k in written if k in old] == list(old)
            assert all(written[k] is None for k in written if k not in old)


def test_a_format_2_meta_is_written_back_byte_for_byte():
    text = (REFERENCE_H200_DOCS / "meta.json").read_text()
    meta = RunMeta.from_json(json.loads(text))
    assert meta.format == 2 and meta.host is None and meta.fleet is None
    assert meta_text(meta) == text


def test_a_newer_format_is_refused_not_upgraded():
    stored = json.loads(lines(REFERENCE_H200_DOCS)[0])
    with pytest.raises(Newer):
        CaseRecord.from_json({**stored, "format": FORMAT_VERSION + 1})
    with pytest.raises(Newer):
        RunMeta.from_json({"format": FORMAT_VERSION + 1})


# -- format 1 ---------------------------------------------------------------------------


def test_a_format_1_record_reads_what_it_lacks_as_not_measured():
    line = json.loads(lines(REFERENCE)[0])
    assert "format" not in line and "precision_met" not in line and "ci_low" not in line["time_s"]
    record = CaseRecord.from_json(line)
    assert record.format == 1 and record.interval is None and record.median == line["time_s"]["median"]
    assert record.precision_met is None and record.clocks is None and record.mem.first_call_allocated is None
    current = CaseRecord.from_json(json.loads(lines(REFERENCE_H200_DOCS)[0])).to_json()
    written = record.to_json()
    assert written["format"] == 2 and list(written) == list(current)
    assert list(written["time_s"]) == list(current["time_s"]) and list(written["mem"]) == list(current["mem"])


def test_a_late_format_1_field_is_read():
    line = {**json.loads(lines(REFERENCE)[0]), "variant": {"channels_last": True}}
    assert CaseRecord.from_json(line).case.axes == (("channels_last", True),)


def test_a_format_1_meta_is_written_back_as_format_2_with_every_key_it_held():
    raw = json.loads((REFERENCE / "meta.json").read_text())
    assert "workers" not in raw and "format" not in raw
    meta = RunMeta.from_json(raw)
    assert meta.format == 1 and meta.workers == [] and meta.resumed_at == []
    assert json.loads(meta_text(meta)) == {**raw, "format": 2}


# -- the host and fleet sections -------------------------------------------------------

HOST = {
    "devices": ["cuda:0", "cuda:1"],
    "runs": ["20260101-000000-a", "20260101-000000-b"],
    "assigned": [["sd-v1", "float16"]],
    "dealt_by": "case count",
    "at_start": {"loadavg": [0.1, 0.2, 0.3], "gpu_processes": {}},
    "at_end": {"gpu_processes": {}},
}


def test_host_and_fleet_round_trip_byte_for_byte_in_any_order():
    meta = json.loads((REFERENCE_H200_DOCS / "meta.json").read_text())
    # an order no writer of today makes, a null held, keys of a later version
    host = {"at_end": {}, "runs": ["20260101-000000-a"], "dealt_by": None, "later": [1]}
    fleet = {"kind": "RTX 4090", "address": None, "node_pid": 7, "later": "x"}
    for tail in (
        {"fleet": fleet, "unknown": {"a": 1}, "host": host},
        {"host": HOST, "fleet": fleet},
        {"unknown": None, "host": host},
    ):
        text = json.dumps({**meta, **tail}, indent=2) + "\n"
        read = RunMeta.from_json(json.loads(text))
        assert meta_text(read) == text
        assert read.host is not None and "host" not in read.extra
    read = RunMeta.from_json({**meta, "host": host, "fleet": fleet})
    assert read.host.runs == ["20260101-000000-a"] and read.host.other == {"later": [1]}
    assert (read.fleet.kind, read.fleet.node_pid, read.fleet.address) == ("RTX 4090", 7, None)


def test_a_section_set_after_reading_goes_where_a_dict_would_have_put_it():
    held = HostSection.from_json({k: HOST[k] for k in ("devices", "runs", "at_start", "at_end")})
    resumed = replace(held, at_resume={"loadavg": [1]}).to_json()
    assert list(resumed) == ["devices", "runs", "at_start", "at_end", "at_resume"]
    # a new section writes in the order the writer of a host run sets its keys
    fresh = HostSection(**{k: HOST[k] for k in ("devices", "runs", "assigned", "dealt_by", "at_start")})
    assert list(replace(fresh, at_end={}).to_json()) == [*list(HOST)]


def test_a_new_fleet_section_keeps_a_null_address():
    fleet = FleetSection.from_json({"address": None, "kind": "A"})
    started = replace(fleet, node_pid=1, sweep_pid=2, host="node", node_command="vae-bench run x")
    assert json.dumps(started.to_json()) == json.dumps(
        {
            "address": None,
            "kind": "A",
            "node_pid": 1,
            "sweep_pid": 2,
            "host": "node",
            "node_command": "vae-bench run x",
        }
    )


def test_a_null_fleet_stays_a_null_and_is_no_fleet_run():
    meta = RunMeta.from_json({"run_id": "r", "fleet": None})
    assert meta.fleet is None and meta.to_json()["fleet"] is None


@pytest.mark.parametrize(
    "section, value, field",
    [
        ("host", None, "host"),
        ("host", {"runs": ["../victim"]}, "host.runs[0]"),
        ("host", {"devices": ["gpu0"]}, "host.devices[0]"),
        ("host", {"assigned": [["sd-v1"]]}, "host.assigned[0]"),
        ("fleet", {"kind": ["a"]}, "fleet.kind"),
        ("fleet", {"node_pid": "7"}, "fleet.node_pid"),
        ("fleet", {"later": {"a": 1}}, "fleet.later"),
    ],
)
def test_a_section_of_the_wrong_shape_names_its_field(section, value, field):
    with pytest.raises(Invalid) as refused:
        RunMeta.from_json({"run_id": "r", section: value})
    assert refused.value.field == field


# -- the series rules -----------------------------------------------------------------


def test_cases_of_one_series_differ_in_size_alone():
    assert series_key(make(512)) == series_key(make(1024, frames=None))
    assert series_key(make(512, dtype="float32")) != series_key(make(512))
    assert series_key(make(512, variant=(("channels_last", True),))) != series_key(make(512))


def test_tiling_knobs_make_a_series_only_where_asked():
    a = make(tiled=True, tiling=(("tile_sample_min_size", 256),))
    b = make(tiled=True, tiling=(("tile_sample_min_size", 512),))
    assert series_key(a) == series_key(b)
    assert series_key(a, knobs=True) != series_key(b, knobs=True)


def test_a_swept_tiling_stands_beside_its_variants_untiled_series():
    axes = (("channels_last", True),)
    tiled = make(tiled=True, variant=(*axes, ("tile_sample_min_size", 256)))
    partner = untiled_partner(series_key(tiled, knobs=True))
    assert partner == series_key(make(variant=axes))  # not the plain untiled series
    assert partner != series_key(make())
    assert series_key(tiled).variant == tiled.variant


def test_each_swept_tiling_makes_a_table_and_the_untiled_series_none_of_its_own():
    sweep = [(("tile_sample_min_size", 256),), (("tile_sample_min_size", 512),)]
    cases = [make(), *[make(tiled=True, variant=s) for s in sweep]]
    groups = table_groups(cases)
    assert [g[5] for g in groups] == sweep
    # an untiled variant with no tiling swept keeps its table
    lone = make(variant=(("channels_last", True),))
    assert [g[4:] for g in table_groups([*cases, lone])] == [
        (None, sweep[0]),
        (None, sweep[1]),
        (lone.axes, None),
    ]
    # tiled and untiled of no swept tiling share one table
    assert table_groups([make(), make(tiled=True)]) == [series_key(make()).table]


def test_an_input_is_one_size_over_its_settings():
    assert input_key(make(512)) == input_key(make(512, tiled=True, dtype="float32"))
    assert input_key(make(512)) != input_key(make(512, batch=2))


def test_what_a_case_needs_of_a_card():
    assert card_need(None, 100) is None
    need = card_need(1000, None)
    assert need == 1000 and isinstance(need, int)  # advise's JSON prints bytes as integers
    assert card_need(1000, 200, 50.0) == 1250.0
    assert fits(None, 10) is None and fits(card_need(1000, 200), 1200) is True and fits(1201, 1200) is False
    for peak in (999, 1000, 1001):
        assert fits(card_need(peak, 150, 50), 1200) == (peak <= card_budget(1200, 150, 50))


def _record(precision_met=True, status="ok", **timing) -> CaseRecord:
    t = Timing(**{"median": 1.0, **timing})
    return CaseRecord.new(
        make(), status=status, weights=None, device=None, time=t, precision_met=precision_met
    )


def test_the_interval_of_a_median():
    met = _record(ci_low=0.9, ci_high=1.2)
    assert interval(met) == met.interval == (0.9, 1.2)
    missed = _record(precision_met=False, ci_low=0.5, ci_high=1.5)
    assert interval(missed) is None  # tables claim nothing of it
    assert interval(missed, unmet=True) == (0.5, 1.5)  # advise and plots use it
    old = _record(precision_met=None, min=0.8, max=1.4)  # format 1: no interval stored
    assert interval(old, unmet=True) is None
    assert interval(old, unmet=True, or_range=True) == (0.8, 1.4)
    assert interval(_record(precision_met=None), or_range=True) == (1.0, 1.0)  # imported
    assert interval(_record(status="oom", ci_low=0.9, ci_high=1.2), unmet=True, or_range=True) is None


def test_the_labels_of_a_series_and_a_table():
    c = make(tiled=True, batch=2, variant=(("channels_last", True),))
    assert setting_label(c) == "float16, batch 2, tiled [channels_last]"
    assert c.label == "sd-v1 decode 512x512 float16 batch 2 tiled [channels_last]"
    assert (
        table_title("sd-v1 decode float16", 2, c.variant) == "sd-v1 decode float16, batch 2 [channels_last]"
    )
    assert table_title("t", 1, None) == "t"
    keys = [
        ("run a", series_key(make())),
        ("run a", series_key(make(tiled=True))),
        ("run b", series_key(make())),
    ]
    assert [legend_label(k, keys) for k in keys] == ["run a, untiled", "run a, tiled", "run b, untiled"]
    swept = ("run a", series_key(make(tiled=True, variant=KNOBS)))
    assert legend_label(swept, [swept]) == "tiled tile_sample_min_size 256"
    assert legend_label(swept, [swept], with_tiling=False) == "tile_sample_min_size 256"


def test_a_device_name_is_made_a_label_a_cell_can_show():
    name = "NVIDIA | GeForce__RTX <4090> www.example"
    assert label_problem(name) is not None
    label = as_label(name)
    assert label_problem(label) is None and "4090" in label
    assert as_label("\x00") == "device"
