"""Drives a model host with Triton's unmodified HTTP client (tritonclient),
using its defaults (binary tensor data for inputs and outputs), and prints
one JSON line with what it saw. Run by model-host/test/tritonclient.test.ts."""
import json
import sys

import numpy as np
import tritonclient.http as httpclient

url, model = sys.argv[1], sys.argv[2]
rows = json.loads(sys.argv[3])
client = httpclient.InferenceServerClient(url=url)

metadata = client.get_model_metadata(model)
config = client.get_model_config(model)
data = np.array(rows, dtype=np.float32)
inp = httpclient.InferInput("features", list(data.shape), "FP32")
inp.set_data_from_numpy(data)  # binary_data=True by default
out = httpclient.InferRequestedOutput("probabilities")  # binary_data=True by default
result = client.infer(model, [inp], outputs=[out], request_id="triton-1")
probabilities = result.as_numpy("probabilities")
response = result.get_response()

print(json.dumps({
    "live": client.is_server_live(),
    "ready": client.is_server_ready(),
    "model_ready": client.is_model_ready(model),
    "metadata_inputs": metadata["inputs"],
    "max_batch_size": config["max_batch_size"],
    "shape": list(probabilities.shape),
    "probabilities": probabilities.astype(float).tolist(),
    "model_version": response["model_version"],
    "id": response.get("id"),
}))
