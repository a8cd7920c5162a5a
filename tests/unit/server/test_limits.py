"""The limits' one owner (inference_server/limits.py): shape checks before allocation, TF's fill
shorthand never materialised, and the pixel budget's wait-then-429."""

from __future__ import annotations

import asyncio
import tracemalloc

import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from inference_server.config import parse_args
from inference_server.errors import BadInput, Overloaded, TooLarge, grpc_code, status_code
from inference_server.limits import Limits, PixelBudget
from inference_server.protocol import tfs_grpc
from inference_server.protocol.tensors import TensorIn, decode_image_input


def fill_request(shape: list[int], value: int = 5) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT8, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape]))
    proto.int_val.append(value)
    request.inputs["input_tensor"].CopyFrom(proto)
    return request


def test_the_fill_shorthand_inside_the_limits_costs_no_memory_of_its_size():
    tracemalloc.start()
    try:
        _, batch = tfs_grpc.decode_predict(fill_request([8, 1000, 1000, 3]))  # 24 M values
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert batch.shape == (8, 1000, 1000, 3) and batch.dtype == np.uint8 and int(batch[7, 999, 999, 2]) == 5
    assert peak < 1024 * 1024, f"{peak} bytes traced"  # np.full of int64 was 192 MB


def test_limits_are_checked_on_the_declared_shape_before_the_data():
    """A raw tensor that lies about its size is refused by its shape, not by reading its bytes."""
    huge = TensorIn("input_tensor", "UINT8", [1, 20000, 20000, 3], raw=b"")
    with pytest.raises(TooLarge, match="--max-image-pixels") as refused:
        decode_image_input([huge])
    assert (status_code(refused.value), grpc_code(refused.value)) == (413, "INVALID_ARGUMENT")
    with pytest.raises(TooLarge, match=r"9 images in one request; at most 8 are accepted \(--max-batch-size\)"):
        decode_image_input([TensorIn("input_tensor", "UINT8", [9, 1, 1, 3], raw=bytes(27))])
    with pytest.raises(TooLarge, match="--max-request-pixels"):
        decode_image_input([TensorIn("input_tensor", "UINT8", [2, 100, 100, 3], raw=bytes(60000))],
                           Limits(max_image_pixels=10_000, max_request_pixels=15_000))
    with pytest.raises(BadInput, match="UINT8"):  # the datatype comes first: a float fill is never built
        decode_image_input([TensorIn("input_tensor", "FP32", [1, 20000, 20000, 3], fill=0.0)])


async def test_a_request_beyond_the_budget_waits_then_gets_429_and_room_is_given_back():
    budget = PixelBudget(capacity=100, timeout_ms=50)
    async with budget.hold(80):
        with pytest.raises(Overloaded, match="--max-pixels-in-flight") as refused:
            async with budget.hold(30):
                pass
        assert (status_code(refused.value), grpc_code(refused.value)) == (429, "RESOURCE_EXHAUSTED")
        async with budget.hold(20):  # what fits goes at once
            assert budget.used == 100
    assert budget.used == 0


async def test_a_waiting_request_goes_as_soon_as_room_is_freed():
    budget = PixelBudget(capacity=100, timeout_ms=5000)
    release, admitted, finish = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def hold(amount: int, started: asyncio.Event | None, until: asyncio.Event) -> None:
        async with budget.hold(amount):
            if started is not None:
                started.set()
            await until.wait()

    holder = asyncio.create_task(hold(100, None, release))
    await asyncio.sleep(0)  # the holder takes the whole budget first
    waiter = asyncio.create_task(hold(60, admitted, finish))
    for _ in range(5):  # several turns of the loop: the waiter is still outside
        await asyncio.sleep(0)
    assert not admitted.is_set() and budget.used == 100
    release.set()
    await asyncio.wait_for(admitted.wait(), 1)
    assert budget.used == 60
    finish.set()
    await asyncio.gather(holder, waiter)
    assert budget.used == 0


@pytest.mark.parametrize("argv", [
    ["--max-image-pixels", "100", "--max-request-pixels", "50"],
    ["--max-request-pixels", "100", "--max-pixels-in-flight", "50", "--max-image-pixels", "10"],
])
def test_contradicting_limits_stop_the_server_at_start(argv, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--model-uri", "m", *argv], {})
    assert "could never be" in capsys.readouterr().err


def test_help_shows_each_limit_its_variable_and_default(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"], {})
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 16777216) [env DETECTOR_MAX_IMAGE_PIXELS]" in text
    assert "(default: 10.0) [env DETECTOR_HEADER_TIMEOUT_SECONDS]" in text
