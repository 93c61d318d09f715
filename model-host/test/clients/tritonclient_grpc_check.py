"""Drives a model host's gRPC service with Triton's unmodified gRPC client
(tritonclient.grpc: raw tensor contents, its defaults) and prints one JSON
line with what it saw, outputs as hex of their float32 bytes (compared
bitwise with REST). Run by model-host/test/grpc.test.ts."""
import json
import queue
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

url, model = sys.argv[1], sys.argv[2]
rows = json.loads(sys.argv[3])
client = grpcclient.InferenceServerClient(url=url)


def infer_input(data):
    inp = grpcclient.InferInput("features", list(data.shape), "FP32")
    inp.set_data_from_numpy(data)
    return inp


def inference_count():
    stats = client.get_inference_statistics(model, as_json=True)
    return sum(int(s.get("inference_count", 0)) for s in stats["model_stats"])


counted_before = inference_count()
data = np.array(rows, dtype=np.float32)
result = client.infer(model, [infer_input(data)], outputs=[grpcclient.InferRequestedOutput("probabilities")],
                      request_id="triton-grpc-1")
probabilities = result.as_numpy("probabilities")
response = result.get_response(as_json=True)

# Async, as clients pipelining requests call it.
done = queue.Queue()


def answered(result, error):  # called with keywords
    done.put((result, error))


client.async_infer(model, [infer_input(data[:1])], callback=answered)
async_result, async_error = done.get(timeout=10)


def error_of(call):
    try:
        call()
        return None
    except InferenceServerException as e:
        return {"status": e.status(), "message": e.message()}


metadata = client.get_model_metadata(model, as_json=True)
config = client.get_model_config(model, as_json=True)["config"]

print(json.dumps({
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "model_ready": client.is_model_ready(model),
    "server": client.get_server_metadata(as_json=True)["name"],
    "metadata_inputs": metadata["inputs"],
    "max_batch_size": config["max_batch_size"],
    "input_type": config["input"][0]["data_type"],
    "shape": list(probabilities.shape),
    "bits": probabilities.astype(np.float32).tobytes().hex(),
    "model_version": response["model_version"],
    "id": response.get("id"),
    "parameters": response.get("parameters"),
    "async_shape": list(async_result.as_numpy("probabilities").shape) if async_result else str(async_error),
    "inference_delta": inference_count() - counted_before,
    "unknown_model": error_of(lambda: client.infer("no-such-model", [infer_input(data)])),
    "wrong_shape": error_of(lambda: client.infer(model, [infer_input(np.zeros((1, 3), dtype=np.float32))])),
}))
