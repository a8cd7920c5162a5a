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
    count = float(re.search(r"^detector_batch_size_count (\S+)$", text, re.M).group(1))
    images = float(re.search(r"^detector_batch_size_sum (\S+)$", text, re.M).group(1))
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
    for single, response in zip(alone, responses):
        batched = response.json()["predictions"][0]
        assert batched["num_detections"] == single["num_detections"]
        np.testing.assert_allclose(batched["detection_scores"], single["detection_scores"], atol=1e-4)
        np.testing.assert_allclose(batched["detection_boxes"], single["detection_boxes"], atol=1e-4)
    assert images_after - images_before == 16  # every image went through the model exactly once
    assert calls_after - calls_before < 16, "concurrent requests should have shared TensorFlow calls"
