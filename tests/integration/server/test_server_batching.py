"""Concurrent requests are batched into shared TensorFlow calls, and each caller still gets its own answer."""

from __future__ import annotations

import asyncio
import re

import httpx
import numpy as np

from tests.support.images import picture
from tests.support.server_process import TEST_MODEL_NAME as MODEL_NAME

PREDICT = f"/v1/models/{MODEL_NAME}:predict"


def batch_stats(client: httpx.Client) -> tuple[float, float]:
    text = client.get("/metrics").text
    count = float(re.search(r"^detector_batch_size_count (\S+)$", text, re.MULTILINE).group(1))
    images = float(re.search(r"^detector_batch_size_sum (\S+)$", text, re.MULTILINE).group(1))
    return count, images


async def test_batched_answers_equal_one_by_one_answers(shared_server, client):
    # Two sizes interleaved: same-size requests may share a call, different sizes must not.
    images = [picture(96, 64, seed=s) if s % 2 else picture(80, 80, seed=s) for s in range(16)]
    bodies = [{"instances": [image.tolist()]} for image in images]
    alone = [client.post(PREDICT, json=body).json()["predictions"][0] for body in bodies]

    calls_before, images_before = batch_stats(client)
    async with httpx.AsyncClient(base_url=shared_server.url, timeout=60) as aclient:
        responses = await asyncio.gather(*(aclient.post(PREDICT, json=body) for body in bodies))
    calls_after, images_after = batch_stats(client)

    assert all(r.status_code == 200 for r in responses)
    for single, response in zip(alone, responses, strict=True):
        batched = response.json()["predictions"][0]
        assert batched["num_detections"] == single["num_detections"]
        np.testing.assert_allclose(batched["detection_scores"], single["detection_scores"], atol=1e-4)
        np.testing.assert_allclose(batched["detection_boxes"], single["detection_boxes"], atol=1e-4)
    assert images_after - images_before == 16  # every image went through the model exactly once
    assert calls_after - calls_before < 16, "concurrent requests should have shared TensorFlow calls"


async def test_grpc_binary_http_and_json_callers_share_batches_and_get_their_own_answers(shared_server, client):
    import tritonclient.grpc.aio as triton_grpc
    import tritonclient.http.aio as triton_http

    images = [picture(72, 56, seed=100 + s) for s in range(12)]  # one size: they may share calls
    alone = [client.post(PREDICT, json={"instances": [image.tolist()]}).json()["predictions"][0]["detection_scores"]
             for image in images]
    http = triton_http.InferenceServerClient(shared_server.url.removeprefix("http://"))
    grpc = triton_grpc.InferenceServerClient(shared_server.grpc_target)

    async def by_json(aclient, image):
        answer = await aclient.post(PREDICT, json={"instances": [image.tolist()]})
        return answer.json()["predictions"][0]["detection_scores"]

    async def by_client(module, triton, image):
        tensor = module.InferInput("input_tensor", [1, *image.shape], "UINT8")
        tensor.set_data_from_numpy(image[None])
        return (await triton.infer(MODEL_NAME, [tensor])).as_numpy("detection_scores")[0]

    calls_before, images_before = batch_stats(client)
    try:
        async with httpx.AsyncClient(base_url=shared_server.url, timeout=60) as aclient:
            callers = [by_json(aclient, image) if i % 3 == 0 else
                       by_client(triton_http, http, image) if i % 3 == 1 else
                       by_client(triton_grpc, grpc, image) for i, image in enumerate(images)]
            answers = await asyncio.gather(*callers)
    finally:
        await http.close()
        await grpc.close()
    calls_after, images_after = batch_stats(client)

    for single, batched in zip(alone, answers, strict=True):
        np.testing.assert_allclose(batched, single, atol=1e-4)
    assert images_after - images_before == 12
    assert calls_after - calls_before < 12, "concurrent callers of every protocol should have shared TensorFlow calls"
