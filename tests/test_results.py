"""`textdistill.results`: naming the machine that every timing was measured on."""

from __future__ import annotations

from textdistill.results import cpu_kernels, cpu_name, machine

PROCESSOR = """processor\t: {n}
vendor_id\t: AuthenticAMD
cpu family\t: {family}
model\t\t: {model}
model name\t: AMD EPYC
stepping\t: 1
flags\t\t: fpu sse2 avx2 avx512f {bf16}
"""


def cpuinfo(*processors: tuple[int, int, str]) -> str:
    return "\n".join(
        PROCESSOR.format(n=n, family=family, model=model, bf16=bf16)
        for n, (family, model, bf16) in enumerate(processors)
    )


def test_two_generations_behind_one_model_name_get_different_names() -> None:
    zen4 = cpu_name(cpuinfo((25, 17, "avx512_bf16"), (25, 17, "avx512_bf16")))
    zen5 = cpu_name(cpuinfo((26, 2, "avx512_bf16")))
    assert zen4 == "AMD EPYC (family 25, model 17, avx512_bf16)"
    assert zen5 == "AMD EPYC (family 26, model 2, avx512_bf16)"


def test_the_first_processor_names_the_machine_and_absent_bf16_is_not_claimed() -> None:
    assert (
        cpu_name(cpuinfo((23, 49, ""), (25, 17, "avx512_bf16"))) == "AMD EPYC (family 23, model 49)"
    )


def test_an_intel_amx_cpu_lists_its_bf16_units() -> None:
    text = "model name\t: Intel(R) Xeon(R) Processor\ncpu family\t: 6\nmodel\t\t: 143\n"
    text += "flags\t\t: avx512f avx512_bf16 amx_bf16 amx_tile\n"
    assert (
        cpu_name(text) == "Intel(R) Xeon(R) Processor (family 6, model 143, avx512_bf16, amx_bf16)"
    )


def test_a_cpuinfo_without_a_model_name_names_nothing() -> None:
    # e.g. some ARM kernels: machine() then falls back to platform's name.
    assert cpu_name("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n") == ""
    assert cpu_name("") == ""


def test_the_kernels_name_their_instruction_set_and_every_cap_set_on_them() -> None:
    assert cpu_kernels("AVX512", {}) == "AVX512"
    assert cpu_kernels("AVX512", {"ONEDNN_MAX_CPU_ISA": "", "OMP_NUM_THREADS": "1"}) == "AVX512"
    capped = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    assert cpu_kernels("AVX2", capped) == "AVX2 (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2)"


def test_the_machine_reports_the_kernels_torch_dispatches_to() -> None:
    import torch

    assert machine()["kernels"].split()[0] == torch.backends.cpu.get_cpu_capability()
