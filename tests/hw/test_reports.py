"""Report parsers against real tool reports (tests/fixtures/reports, expected values in its MANIFEST.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ohq_flow.errors import ReportParseError
from ohq_flow.hw.reports import format_table, parse_path, parse_report, records_to_json
from ohq_flow.hw.reports.cli import main_parse_report

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "reports"

INT_FIELDS = {"latency_min_cycles", "latency_max_cycles", "ii_min_cycles", "ii_max_cycles",
              "lut", "ff", "dsp", "bram18", "uram"}


def res(bram, dsp, ff, lut, uram):
    """MANIFEST order: BRAM_18K / DSP / FF / LUT / URAM."""
    return dict(bram18=bram, dsp=dsp, ff=ff, lut=lut, uram=uram)


def hls(ver, part, tgt, unc, est, lat, ii, ptype, resources, tool=None):
    d = dict(tool_version=ver, part=part, target_clock_ns=tgt, clock_uncertainty_ns=unc,
             estimated_clock_ns=est, pipeline_type=ptype, **resources)
    if lat is not None:
        d.update(latency_min_cycles=lat[0], latency_max_cycles=lat[1])
    if ii is not None:
        d.update(ii_min_cycles=ii[0], ii_max_cycles=ii[1])
    if tool:
        d["tool"] = tool
    return d


def util(ver, part, state, lut, ff, bram18, dsp, uram):
    return dict(kind="vivado_utilization", tool="vivado", tool_version=ver, part=part,
                extra__design_state=state, lut=lut, ff=ff, bram18=bram18, dsp=dsp, uram=uram)


UNDEF = dict(latency_min_cycles=None, latency_max_cycles=None, ii_min_cycles=None,
             ii_max_cycles=None, latency_undef=True)

# case folder -> [(file, module or None for the file's top record, expected fields)]
CASES = {
    "vivado_hls-2018.2-bjet-discriminant-vu9p": [
        ("get_discriminant_csynth.xml", None, hls("2018.2", "xcvu9p-flgc2104-2-i", 3.12, 0.39, 0.0,
                                                  (0, 0), (1, 1), "none", res(0, 0, 0, 0, 0),
                                                  tool="vivado_hls") | {"top": "get_discriminant"}),
        ("csynth.xml", None, dict(ii_min_cycles=1, ii_max_cycles=1, latency_max_cycles=0)),
        ("get_discriminant_csynth.rpt", None, hls("2018.2", "xcvu9p-flgc2104-2-i", 3.12, 0.39, 0.0,
                                                  (0, 0), (0, 0), "none", res(0, 0, 0, 0, 0))),
    ],
    "vivado_hls-2018.2-mnist-undef-latency-vu13p": [
        ("c_mnist_csynth.xml", None, hls("2018.2", "xcvu13p-flga2577-2-e", 10.0, 1.25, 8.419, None,
                                         None, "none", res(3391, 80, 14744, 21133, 0)) | UNDEF),
        ("c_mnist_csynth.rpt", None, hls("2018.2", "xcvu13p-flga2577-2-e", 10.0, 1.25, 8.419, None,
                                         None, "none", res(3391, 80, 14744, 21133, 0)) | UNDEF),
        ("csynth.xml", None, dict(lut=21133) | UNDEF),
    ],
    "vivado_hls-2019.1-hls4ml-quickdraw-gru-virtex7": [
        ("myproject_csynth.rpt", None, hls("2019.1", "xc7vx690t-ffg1761-2", 5.0, 0.62, 4.890,
                                           (16375, 16401), (16302, 16402), "dataflow",
                                           res(578, 1849, 269778, 264305, 0), tool="vivado_hls")),
    ],
    "vivado_hls-2019.2.1-hls4ml-conv-autoencoder-z7020": [
        ("myproject_csynth.xml", None, hls("2019.2.1", "xc7z020-clg400-1", 5.0, 0.62, 4.429,
                                           (96014, 96165), (4625, 95949), "dataflow",
                                           res(285, 118, 51414, 33365, 0))),
        ("myproject_csynth.rpt", None, hls("2019.2.1", "xc7z020-clg400-1", 5.0, 0.62, 4.429,
                                           (96014, 96165), (4625, 95949), "dataflow",
                                           res(285, 118, 51414, 33365, 0))),
        ("myproject_csynth.rpt", "conv_2d_cl_array_array_ap_fixed_8u_config2_s",
         dict(latency_min_cycles=4624, latency_max_cycles=23120, level="module")),
        ("csynth.xml", None, dict(top="myproject_axi", latency_min_cycles=96019, latency_max_cycles=96170,
                                  ii_min_cycles=11266, ii_max_cycles=95949, **res(289, 118, 53257, 35689, 0))),
        ("myproject_axi_csynth.xml", None, dict(latency_min_cycles=96019, **res(289, 118, 53257, 35689, 0))),
        ("conv_2d_cl_array_array_ap_fixed_8u_config2_s_csynth.xml", None,
         dict(estimated_clock_ns=4.429, latency_min_cycles=4624, latency_max_cycles=23120,
              ii_min_cycles=4624, ii_max_cycles=23120, **res(7, 30, 3681, 1476, 0))),
        ("conv_2d_cl_array_array_ap_fixed_4u_config5_s_csynth.xml", None,
         dict(estimated_clock_ns=4.429, latency_min_cycles=1296, latency_max_cycles=26892,
              ii_min_cycles=1296, ii_max_cycles=26892, **res(4, 14, 5444, 1724, 0))),
        ("conv_2d_cl_array_array_ap_fixed_1u_config20_s_csynth.xml", None,
         dict(estimated_clock_ns=4.429, latency_min_cycles=4624, latency_max_cycles=95948,
              ii_min_cycles=4624, ii_max_cycles=95948, **res(1, 2, 4419, 1802, 0))),
        ("pooling2d_cl_array_array_ap_fixed_8u_config4_s_csynth.xml", None,  # other resource order
         dict(estimated_clock_ns=4.429, latency_min_cycles=2052, latency_max_cycles=2052,
              ii_min_cycles=2052, ii_max_cycles=2052, **res(0, 0, 2870, 2114, 0))),
    ],
    "vivado_hls-2020.1-hls4ml-testreport-dense-z7020": [
        ("myproject_csynth.xml", None, hls("2020.1", "xc7z020-clg400-1", 5.0, 0.62, 4.049, (10, 10),
                                           (8, 8), "dataflow", res(0, 73, 7969, 2532, 0))),
        ("myproject_csynth.rpt", None, hls("2020.1", "xc7z020-clg400-1", 5.0, 0.62, 4.049, (10, 10),
                                           (8, 8), "dataflow", res(0, 73, 7969, 2532, 0))),
        ("vivado_synth.rpt", None, util("2020.1", "7z020clg400-1", "Synthesized", 1526, 2428, 0, 66, None)),
    ],
    "vivado_hls-2020.1-hls4ml-tutorial-pruned-cnn-u250": [
        ("myproject_csynth.rpt", None, hls("2020.1", "xcu250-figd2104-2L-e", 5.0, 0.62, 4.363,
                                           (1044, 1044), (1028, 1028), "dataflow",
                                           res(100, 5414, 52549, 245466, 0))),
        ("vivado_synth.rpt", None, util("2020.1", "xcu250figd2104-2L", "Synthesized",
                                        123948, 43435, 84, 5386, 0)),
    ],
    "vivado_hls-2020.1-hls4ml-dnd-zu9eg": [
        ("myproject_csynth.rpt", None, hls("2020.1", "xczu9eg-ffvb1156-2-e", 5.0, 0.62, 4.218, (5, 5),
                                           (1, 1), "function", res(1, 0, 4561, 59561, 0))),
        ("vivado_synth.rpt", None, util("2020.1", "xczu9egffvb1156-2", "Synthesized",
                                        31277, 4555, 1.0, 0, None)),  # 0.5 tile, no URAM row
    ],
    "vitis_hls-2020.2-gaussian-filter-zcu104": [
        ("gaussian_csynth.xml", None, hls("2020.2", "xczu7ev-ffvc1156-2-e", 10.0, 2.70, 6.427,
                                          (262673, 262673), (262674, 262674), "none",
                                          res(3, 0, 973, 1870, 0), tool="vitis_hls")),
        ("gaussian_csynth.rpt", None, hls("2020.2", "xczu7ev-ffvc1156-2-e", 10.0, 2.70, 6.427,
                                          (262673, 262673), (262674, 262674), "none",
                                          res(3, 0, 973, 1870, 0), tool="vitis_hls")),
        ("csynth.rpt", None, dict(kind="hls_summary", slack_ns=-0.87, latency_max_cycles=262673,
                                  ii_max_cycles=262674, **res(3, 0, 973, 1870, 0))),
    ],
    "vitis_hls-2021.1-hls4ml-arrhythmia-mlp-z7007s": [
        ("myproject_csynth.xml", None, hls("2021.1", "xc7z007s-clg225-2", 3.33, 0.42, 3.236, (40, 40),
                                           (1, 1), "yes", res(16, 177, 34282, 31704, 0))),
        ("csynth.rpt", None, dict(slack_ns=-0.32, extra__issue_type="Timing", dsp=177, lut=31704)),
        ("dense_latency_ap_fixed_8_2_5_3_0_ap_fixed_16_4_5_3_0_config2_s_csynth.xml", None,
         dict(latency_min_cycles=9, latency_max_cycles=9, ii_min_cycles=1, ii_max_cycles=1,
              **res(0, 119, 27085, 26560, 0))),
        ("dense_latency_ap_ufixed_8_1_4_0_0_ap_fixed_16_4_5_3_0_config5_s_csynth.xml", None,
         dict(latency_min_cycles=5, latency_max_cycles=5, ii_min_cycles=1, ii_max_cycles=1,
              **res(0, 42, 2752, 2335, 0))),
        ("relu_ap_fixed_16_4_5_3_0_ap_ufixed_8_1_4_0_0_relu_config4_s_csynth.xml", None,
         dict(latency_min_cycles=1, latency_max_cycles=1, ii_min_cycles=1, ii_max_cycles=1,
              **res(0, 0, 205, 336, 0))),
        ("softmax_stable_ap_fixed_ap_fixed_16_6_5_3_0_softmax_config7_s_csynth.xml", None,
         dict(latency_min_cycles=20, latency_max_cycles=20, ii_min_cycles=1, ii_max_cycles=1,
              **res(16, 16, 3798, 2471, 0))),
    ],
    "vitis_hls-2022.2-hls4ml-jet-dnn-u250": [
        ("myproject_csynth.xml", None, hls("2022.2", "xcu250-figd2104-2L-e", 5.0, 1.35, 3.636, (15, 15),
                                           (1, 1), "yes", res(8, 2557, 24233, 116694, 0))),
        ("csynth.rpt", None, dict(slack_ns=0.01, extra__issue_type="II")),
    ],
    "vitis_hls-2023.1-hls4ml-conv1d-pulse-rfsoc-zu49dr": [
        ("myproject_csynth.xml", None, hls("2023.1", "xczu49dr-ffvf1760-2-e", 5.0, 1.35, 3.649,
                                           (695, 695), (578, 578), "dataflow",
                                           res(332, 29, 65881, 339116, 0))),
        ("myproject_csynth.rpt", None, hls("2023.1", "xczu49dr-ffvf1760-2-e", 5.0, 1.35, 3.649,
                                           (695, 695), (578, 578), "dataflow",
                                           res(332, 29, 65881, 339116, 0))),
    ],
    "vitis_hls-2023.2-pca-u250-export-impl": [
        ("dut_csynth.xml", None, hls("2023.2", "xcu250-figd2104-2L-e", 3.33, 0.90, 3.237, None, None,
                                     "no", res(10, 98, 61437, 32419, 2)) | UNDEF),
        ("dut_csynth.rpt", None, hls("2023.2", "xcu250-figd2104-2L-e", 3.33, 0.90, 3.237, None, None,
                                     "no", res(10, 98, 61437, 32419, 2)) | UNDEF),
        ("dut_export.rpt", None, dict(kind="hls_export", tool_version="2023.2", lut=44205, ff=53332,
                                      dsp=98, bram18=19, uram=2, target_clock_ns=3.333,
                                      achieved_clock_ns=3.152, timing_met=True, extra__srl=2363,
                                      extra__clb=9606, extra__cp_achieved_post_synthesis_ns=2.666)),
        ("vivado_impl.xml", None, dict(kind="hls_export", achieved_clock_ns=3.152, wns_ns=0.181,
                                       timing_met=True, bram18=19, lut=44205, ff=53332, dsp=98, uram=2)),
        ("vivado_syn.xml", None, dict(achieved_clock_ns=2.666, wns_ns=0.667, lut=46705, ff=55372,
                                      bram18=19, dsp=98, uram=2, extra__srl=3210, stage="synth")),
        ("dut_utilization_routed.rpt", None, util("2023.2", "xcu250-figd2104-2L-e", "Routed",
                                                  44205, 53332, 19.0, 98, 2)),
        ("dut_utilization_synth.rpt", None, util("2023.2", "xcu250-figd2104-2L-e", "Synthesized",
                                                 46705, 55372, 19.0, 98, 2)),
        ("dut_timing_routed.rpt", None, dict(kind="vivado_timing", wns_ns=0.181, tns_ns=0.0,
                                             target_clock_ns=3.333, timing_met=True,
                                             extra__total_endpoints=115772)),
        ("dut_timing_synth.rpt", None, dict(wns_ns=0.667, target_clock_ns=3.333)),
    ],
    "vitis_hls-2024.2-hls4ml-cnn-artix7": [
        ("myproject_csynth.xml", None, hls("2024.2", "xc7a35t-cpg236-1", 30.0, 8.10, 20.557,
                                           (225244, 225290), (16386, 225282), "dataflow",
                                           res(32, 17, 10368, 15817, 0))),
        ("csynth.xml", None, dict(latency_min_cycles=225244, ii_min_cycles=16386, ii_max_cycles=225282)),
        ("csynth.xml", "conv_2d_cl_array_ap_fixed_1u_array_ap_fixed_20_9_5_3_0_2u_config3_s",
         dict(level="module", latency_min_cycles=16385, latency_max_cycles=225281,
              ii_min_cycles=16385, ii_max_cycles=225281, **res(1, 1, 1148, 1903, 0))),
        ("csynth.rpt", None, dict(slack_ns=1.34, latency_max_cycles=225290, ii_max_cycles=225282)),
        ("myproject_csynth.rpt", "linear_array_ap_uint_1u_array_ap_fixed_8_1_4_0_0_1u_linear_config2_s",
         dict(pipeline_type="loop auto-rewind stp (delay=0 clock cycles(s))")),
        ("conv_2d_cl_array_ap_fixed_1u_array_ap_fixed_20_9_5_3_0_2u_config3_s_csynth.xml", None,
         dict(estimated_clock_ns=20.557, latency_min_cycles=16385, latency_max_cycles=225281,
              ii_min_cycles=16385, ii_max_cycles=225281, **res(1, 1, 1148, 1903, 0))),
        ("conv_2d_cl_array_ap_ufixed_2u_array_ap_fixed_19_9_5_3_0_4u_config6_s_csynth.xml", None,
         dict(estimated_clock_ns=15.647, latency_min_cycles=3601, latency_max_cycles=49501,
              ii_min_cycles=3601, ii_max_cycles=49501, **res(1, 4, 1738, 2496, 0))),
        ("dense_array_ap_ufixed_6u_array_ap_fixed_16_6_5_3_0_1u_config16_s_csynth.xml", None,
         dict(estimated_clock_ns=13.663, latency_min_cycles=68, latency_max_cycles=69,
              ii_min_cycles=68, ii_max_cycles=69, **res(1, 1, 1035, 1425, 0))),
        ("relu_array_ap_fixed_2u_array_ap_ufixed_6_0_4_0_0_2u_relu_config5_s_csynth.xml", None,
         dict(estimated_clock_ns=13.909, latency_min_cycles=901, latency_max_cycles=901,
              ii_min_cycles=900, ii_max_cycles=900, **res(0, 0, 13, 310, 0))),
        ("linear_array_ap_uint_1u_array_ap_fixed_8_1_4_0_0_1u_linear_config2_s_csynth.xml", None,
         dict(estimated_clock_ns=7.093, latency_min_cycles=4097, latency_max_cycles=4097,
              ii_min_cycles=4096, ii_max_cycles=4096, **res(0, 0, 15, 118, 0))),
    ],
    "vitis_hls-2025.1-hls4ml-iris-mlp-pynqz2-placed-routed": [
        ("myproject_csynth.xml", None, hls("2025.1", "xc7z020-clg400-1", 5.0, 1.35, 3.624, (32, 32),
                                           (1, 1), "yes", res(3, 110, 13240, 4725, 0))),
        ("design_1_wrapper_utilization_placed.rpt", None,
         util("2025.1", "xc7z020clg400-1", "Fully Placed", 3455, 5126, 3.0, 110, None) | {"stage": "place"}),
        ("design_1_wrapper_utilization_synth.rpt", None,
         util("2025.1", "xc7z020clg400-1", "Synthesized", 3604, 5476, 3.0, 110, None)),
        ("design_1_wrapper_timing_summary_routed.rpt", None,
         dict(wns_ns=0.784, tns_ns=0.0, target_clock_ns=10.0, extra__clocks={"clk_fpga_0": 10.0})),
    ],
    "vivado-2022.2-hls4ml-lfads-u50-synth": [
        ("vivado_synth.rpt", None, util("2022.2", "xcu50-fsvh2104-2L-e", "Synthesized",
                                        179437, 227971, 502.0, 2058, 0) | {"top": "myproject"}),
    ],
    "vivado-2024.2-spi-controller-artix7-placed-routed": [
        ("base_utilization_placed.rpt", None, util("2024.2", "xc7a35tcpg236-1", "Fully Placed",
                                                   331, 216, 0.0, 0, None)),
        ("base_utilization_synth.rpt", None, dict(lut=283, ff=215)),
        ("base_timing_summary_routed.rpt", None,
         dict(wns_ns=-5.243, tns_ns=-1719.35, timing_met=False, target_clock_ns=None,
              extra__failing_endpoints=485, extra__total_endpoints=485)),
    ],
    "finn-v0.7-cybersecurity-mlp-estimates": [
        ("report/estimate_layer_resources.json", None,
         dict(kind="finn_estimate", tool="finn", bram18=45, lut=10959, uram=0, dsp=0, ff=None, part=None)),
        ("report/estimate_layer_resources.json", "StreamingFCLayer_Batch_0", dict(bram18=36, lut=8184, dsp=0)),
        ("report/estimate_layer_cycles.json", "StreamingFCLayer_Batch_0", dict(latency_max_cycles=60)),
        ("report/estimate_layer_cycles.json", "StreamingFCLayer_Batch_1", dict(latency_max_cycles=64)),
        ("report/estimate_layer_cycles.json", "StreamingFCLayer_Batch_2", dict(latency_max_cycles=64)),
        ("report/estimate_layer_cycles.json", "StreamingFCLayer_Batch_3", dict(latency_max_cycles=64)),
        ("report/estimate_network_performance.json", None,
         dict(latency_max_cycles=252, ii_max_cycles=64, target_clock_ns=None,
              extra__max_cycles_node_name="StreamingFCLayer_Batch_1",
              extra__estimated_throughput_fps=1562500.0, extra__estimated_latency_ns=2520.0)),
    ],
    "finn-vivado2024.2-cnn-estimates-ooc-rtlsim": [
        ("output_estimates_only/report/estimate_layer_resources.json", None,
         dict(bram18=40, lut=5067, uram=0, dsp=1)),
        ("output_estimates_only/report/estimate_network_performance.json", None,
         dict(latency_max_cycles=5725383, ii_max_cycles=3650400, extra__max_cycles_node_name="MVAU_hls_1",
              extra__estimated_throughput_fps=27.39425816348893, extra__estimated_latency_ns=57253830.0)),
        ("output_ipstitch_ooc_rtlsim/report/ooc_synth_and_timing.json", None,
         dict(kind="finn_ooc_synth", lut=11016, ff=10441, dsp=0, bram18=8 + 2 * 24, uram=0, wns_ns=2.256,
              achieved_clock_ns=12.0 - 2.256, extra__vivado_version="2024.2", extra__LUTRAM=1620.0)),
        ("output_ipstitch_ooc_rtlsim/report/rtlsim_performance.json", None,
         dict(kind="finn_rtlsim", latency_min_cycles=978993, latency_max_cycles=978993,
              target_clock_ns=12.0)),
        ("output_ipstitch_ooc_rtlsim/report/estimate_layer_resources_hls.json", "MVAU_hls_0",
         dict(lut=1227, ff=539, dsp=1, bram18=0, uram=0)),
    ],
}


def _pick(records, module):
    if module is None:
        assert records[0].level == "top"
        return records[0]
    hits = [r for r in records if r.module == module]
    assert hits, f"no record for module {module}: {[r.module for r in records]}"
    return hits[0]


def _check(rec, expected):
    for key, want in expected.items():
        if key.startswith("extra__"):
            got = rec.extra.get(key[len("extra__"):])
        else:
            got = getattr(rec, key)
        where = f"{os.path.basename(rec.file)}[{rec.module}].{key}"
        if want is None or isinstance(want, (bool, str, dict)):
            assert got == want, f"{where}: {got!r} != {want!r}"
        elif key in INT_FIELDS or isinstance(want, int):
            assert got == want and float(got).is_integer(), f"{where}: {got!r} != {want!r}"
        else:
            assert got == pytest.approx(want, abs=1e-6), f"{where}: {got!r} != {want!r}"


def test_manifest_lists_every_case():
    vendor_cases = [p.name for p in FIX.iterdir() if p.is_dir() and p.name != "nextpnr"]  # nextpnr: its own tests
    assert sorted(CASES) == sorted(vendor_cases)
    assert len(CASES) == 18


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_case(case):
    for fname, module, expected in CASES[case]:
        records = parse_report(FIX / case / fname)
        assert records
        _check(_pick(records, module), expected)


@pytest.mark.parametrize("case", sorted(CASES))
def test_parse_path_case_folder(case):
    records = parse_path(FIX / case)
    assert records
    assert all(r.kind for r in records)
    text = format_table(records)
    assert len(text.splitlines()) == len(records) + 2
    assert len(json.loads(records_to_json(records))) == len(records)


def test_project_folder_gives_top_and_modules():
    recs = parse_path(FIX / "vitis_hls-2024.2-hls4ml-cnn-artix7")
    hls = [r for r in recs if r.kind.startswith("hls")]
    tops = [r for r in hls if r.level == "top"]
    assert [t.module for t in tops] == ["myproject"] and hls[0] is tops[0]
    mods = {r.module: r for r in hls if r.level == "module"}
    assert len(mods) == len([r.module for r in hls if r.level == "module"])  # one record per module
    conv = mods["conv_2d_cl_array_ap_ufixed_2u_array_ap_fixed_19_9_5_3_0_4u_config6_s"]
    assert os.path.basename(conv.file).endswith("_csynth.xml") and conv.top == "myproject"
    assert (conv.latency_min_cycles, conv.latency_max_cycles, conv.lut) == (3601, 49501, 2496)


def test_axi_wrapper_is_the_project_top():
    recs = parse_path(FIX / "vivado_hls-2019.2.1-hls4ml-conv-autoencoder-z7020")
    assert recs[0].module == "myproject_axi" and recs[0].level == "top"
    mp = next(r for r in recs if r.module == "myproject")
    assert mp.level == "module" and mp.latency_min_cycles == 96014
    # the record says which is the wrapper and which is the network hls4ml reads
    assert recs[0].wrapper is True and mp.wrapper is False
    assert {r.network_top for r in recs if r.kind.startswith("hls")} == {"myproject"}
    assert all(r.top == "myproject_axi" for r in recs if r.kind.startswith("hls"))
    data = json.loads(records_to_json(recs))
    assert data[0]["top"] == "myproject_axi" and data[0]["network_top"] == "myproject" and data[0]["wrapper"] is True


def test_unwrapped_project_is_its_own_network_top():
    recs = parse_path(FIX / "vitis_hls-2024.2-hls4ml-cnn-artix7")
    hls = [r for r in recs if r.kind.startswith("hls")]
    assert {r.network_top for r in hls} == {"myproject"} and not any(r.wrapper for r in hls)


def test_rpt_xml_disagreement_is_noted():
    recs = parse_path(FIX / "vivado_hls-2018.2-bjet-discriminant-vu9p")
    assert recs[0].ii_min_cycles == 1 and "ii_min_cycles=0" in (recs[0].notes or "")


def test_rpt_only_project_has_per_layer_records():
    recs = parse_path(FIX / "vivado_hls-2019.1-hls4ml-quickdraw-gru-virtex7")
    gru = next(r for r in recs if r.module.startswith("gru_stack"))
    assert (gru.latency_min_cycles, gru.latency_max_cycles, gru.lut, gru.dsp) == (16301, 16401, 32163, 242)


def test_cli_table_and_json(capsys):
    case = FIX / "vivado_hls-2020.1-hls4ml-dnd-zu9eg"
    assert main_parse_report(str(case), as_json=False) == 0
    assert "59561" in capsys.readouterr().out
    assert main_parse_report(str(case / "vivado_synth.rpt"), as_json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["lut"] == 31277 and data[0]["uram"] is None


# ------------------------------------------------------------------ errors


def _raises(path):
    with pytest.raises(ReportParseError) as info:
        parse_path(path)
    assert path.name in str(info.value)
    return info.value


def test_empty_file(tmp_path):
    f = tmp_path / "myproject_csynth.rpt"
    f.write_text("")
    assert "empty" in _raises(f).what


def test_truncated_xml(tmp_path):
    data = (FIX / "vivado_hls-2020.1-hls4ml-testreport-dense-z7020" / "myproject_csynth.xml").read_bytes()
    f = tmp_path / "myproject_csynth.xml"
    f.write_bytes(data[: len(data) // 2])
    assert "truncated" in _raises(f).what


@pytest.mark.parametrize("rel", [
    "vivado_hls-2018.2-bjet-discriminant-vu9p/get_discriminant_csynth.rpt",
    "vitis_hls-2023.2-pca-u250-export-impl/dut_csynth.rpt",
    "vivado-2022.2-hls4ml-lfads-u50-synth/vivado_synth.rpt",
    "vitis_hls-2023.2-pca-u250-export-impl/dut_export.rpt",
    "vitis_hls-2020.2-gaussian-filter-zcu104/csynth.rpt",
])
def test_truncated_rpt(tmp_path, rel):
    data = (FIX / rel).read_bytes()
    f = tmp_path / Path(rel).name
    f.write_bytes(data[: len(data) // 2])
    assert "truncated" in _raises(f).what


def test_truncated_json(tmp_path):
    data = (FIX / "finn-v0.7-cybersecurity-mlp-estimates/report/estimate_layer_resources.json").read_bytes()
    f = tmp_path / "estimate_layer_resources.json"
    f.write_bytes(data[: len(data) // 2])
    assert "truncated" in _raises(f).what


def test_random_text_file(tmp_path):
    f = tmp_path / "notes.rpt"
    f.write_text("this is not a report\n| a | b |\nLUT: 12\n")
    assert "not a recognised" in _raises(f).what


def test_non_report_json(tmp_path):
    f = tmp_path / "time_per_step.json"
    f.write_text('{"step_tidy_up": 0.04}')
    _raises(f)


def test_empty_dir(tmp_path):
    d = tmp_path / "empty_project"
    d.mkdir()
    (d / "readme.txt").write_text("nothing here")
    assert "no tool reports" in _raises(d).what


def test_dir_with_broken_report_raises(tmp_path):
    (tmp_path / "myproject_csynth.xml").write_text("<profile><UserAssignments>")
    _raises(tmp_path / "myproject_csynth.xml")
    with pytest.raises(ReportParseError, match="myproject_csynth.xml"):
        parse_path(tmp_path)


def test_missing_path(tmp_path):
    _raises(tmp_path / "nope.rpt")


def test_cli_error_exit_code(tmp_path, capsys):
    f = tmp_path / "empty.rpt"
    f.write_text("")
    assert main_parse_report(str(f), as_json=False) == 2
    assert "empty.rpt" in capsys.readouterr().err
