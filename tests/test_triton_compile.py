"""The kernel compiles for Hopper (sm_90) as the GPU launches it: tile rules a GPU enforces and
the interpreter does not, shared memory within the chip's 227 KiB, wgmma for 16-bit inputs
and no register spills. Triton compiles to a cubin without a GPU, in a child process that
does not set TRITON_INTERPRET."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")

HOPPER_SMEM = 227 * 1024  # the most shared memory one block may opt into on sm_90
CHILD = r"""
import json, os, subprocess, sys, tempfile
import torch, triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from aha.adapters.triton.attention import head_tile, tiles
from aha.adapters.triton.kernel import band_attention_fwd

dtype, head_dim, causal, padding = json.loads(sys.argv[1])
t = tiles(head_tile(head_dim), getattr(torch, dtype), interpreted=False)
ty = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}[dtype]
signature = dict(Q="*" + ty, K="*" + ty, V="*" + ty, OUT="*" + ty, ROW_MAX="*fp32",
                 ROW_SUM="*fp32", BIAS="*fp32", KEEP="*u8", REACH="*i32", KV_LEN="*i32",
                 QK_COEF="*fp32", T="i32", R="i32", HEAD_DIM="constexpr", BLOCK_D="constexpr",
                 BLOCK_M="constexpr", BLOCK_N="constexpr", CAUSAL="constexpr",
                 HAS_PADDING="constexpr", CLAMP_BIAS="constexpr", SAVE_STATS="constexpr")
constants = dict(HEAD_DIM=head_dim, BLOCK_D=head_tile(head_dim), BLOCK_M=t.block_m,
                 BLOCK_N=t.block_n, CAUSAL=causal, HAS_PADDING=padding, CLAMP_BIAS=padding,
                 SAVE_STATS=padding)
aligned = {(i,): [["tt.divisibility", 16]] for i in range(11)}  # pointers, as launched
kernel = triton.compile(ASTSource(band_attention_fwd, signature, constants, aligned),
                        target=GPUTarget("cuda", 90, 32),
                        options=dict(num_warps=t.num_warps, num_stages=t.num_stages))
cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/cuobjdump")
with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
    f.write(kernel.asm["cubin"])
    f.flush()
    usage = subprocess.run([cuobjdump, "--dump-resource-usage", f.name], capture_output=True,
                           text=True, check=True).stdout
stack = int(usage.split("STACK:")[1].split()[0])
print(json.dumps({"shared": kernel.metadata.shared, "wgmma": "wgmma" in kernel.asm["ptx"],
                  "stack": stack}))
"""


@pytest.mark.parametrize(
    "dtype, head_dim, causal, padding",
    [
        ("bfloat16", 128, False, False),  # the benchmark's launch
        ("float16", 16, True, True),  # the tests' and the conformance suite's launches
        ("bfloat16", 111, False, True),  # a head dim off a power of two: masked columns
    ],
)
def test_gpu_launch_compiles_for_hopper(
    dtype: str, head_dim: int, causal: bool, padding: bool
) -> None:
    env = dict(os.environ, TRITON_INTERPRET="0")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps([dtype, head_dim, causal, padding])],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["shared"] <= HOPPER_SMEM, found
    assert found["wgmma"], found  # the tensor-core path of Hopper, not mma.sync or FMA
    if head_dim & (head_dim - 1) == 0:
        assert found["stack"] == 0, found  # no register spills
    else:  # the column masks of a padded head dim cost a small stack frame (16 B measured)
        assert found["stack"] <= 64, found


CHILD_BACKWARD = r"""
import json, os, subprocess, sys, tempfile
import torch, triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from aha.adapters.triton import kernel_bwd
from aha.adapters.triton.attention import head_tile
from aha.adapters.triton.vjp import backward_tiles

name, dtype, head_dim, causal, padding = json.loads(sys.argv[1])
block_d = head_tile(head_dim)
t = getattr(backward_tiles(block_d, getattr(torch, dtype), interpreted=False), name)
x = "*" + {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}[dtype]
stats = dict(ROW_MAX="*fp32", ROW_SUM="*fp32", DELTA="*fp32")
if name == "kv":
    fn = kernel_bwd.band_attention_bwd_kv
    ptrs = dict(Q=x, K=x, V=x, DO=x, **stats, DK=x, DV=x, DBIAS="*fp32", ZDZ="*fp32")
else:
    fn = kernel_bwd.band_attention_bwd_q
    ptrs = dict(Q=x, K=x, V=x, DO=x, **stats, DQ=x)
signature = dict(ptrs, BIAS="*fp32", KEEP="*u8", REACH="*i32", KV_LEN="*i32", QK_COEF="*fp32",
                 T="i32", R="i32", HEAD_DIM="constexpr", BLOCK_D="constexpr",
                 BLOCK_M="constexpr", BLOCK_N="constexpr", CAUSAL="constexpr",
                 HAS_PADDING="constexpr")
constants = dict(HEAD_DIM=head_dim, BLOCK_D=block_d, BLOCK_M=t.block_m, BLOCK_N=t.block_n,
                 CAUSAL=causal, HAS_PADDING=padding)
aligned = {(i,): [["tt.divisibility", 16]] for i in range(len(ptrs) + 5)}  # pointers
kernel = triton.compile(ASTSource(fn, signature, constants, aligned),
                        target=GPUTarget("cuda", 90, 32),
                        options=dict(num_warps=t.num_warps, num_stages=t.num_stages))
cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/cuobjdump")
with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
    f.write(kernel.asm["cubin"])
    f.flush()
    usage = subprocess.run([cuobjdump, "--dump-resource-usage", f.name], capture_output=True,
                           text=True, check=True).stdout
stack = int(usage.split("STACK:")[1].split()[0])
print(json.dumps({"shared": kernel.metadata.shared, "wgmma": "wgmma" in kernel.asm["ptx"],
                  "stack": stack}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "kernel, dtype, head_dim, causal, padding",
    [
        ("kv", "bfloat16", 128, False, False),  # the benchmark's backward launches
        ("q", "bfloat16", 128, False, False),
        ("kv", "float16", 80, True, True),  # masked head-dim columns, causal, padding
        ("kv", "float32", 64, True, True),  # the float32 path: CUDA cores, no wgmma
    ],
)
def test_backward_launches_compile_for_hopper(
    kernel: str, dtype: str, head_dim: int, causal: bool, padding: bool
) -> None:
    """The backward's tiles fit shared memory and spill nothing at Dh ≤ 128 (vjp.backward_tiles);
    the 16-bit launches use wgmma."""
    env = dict(os.environ, TRITON_INTERPRET="0")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD_BACKWARD,
            json.dumps([kernel, dtype, head_dim, causal, padding]),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["shared"] <= HOPPER_SMEM, found
    assert found["wgmma"] == (dtype != "float32"), found
    if head_dim & (head_dim - 1) == 0:
        assert found["stack"] == 0, found
    else:  # the column masks of a padded head dim cost a small stack frame
        assert found["stack"] <= 64, found
