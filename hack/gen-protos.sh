#!/usr/bin/env bash
# Regenerate the Open Inference Protocol's gRPC code in inference_server/protocol/oip/ from the
# vendored proto (kserve/open-inference-protocol, specification/protocol/open_inference_grpc.proto).
#   make protos
# The generated files are committed: the server image needs no protoc. grpcio-tools is pinned so its
# protoc emits gencode for protobuf 6.31.1, the oldest runtime tensorflow 2.21 accepts (gencode
# may not be newer than the runtime). It runs from a virtualenv cached outside the repository.
#
# The messages go into a descriptor pool of their own, not protobuf's default one: Triton's client
# (tritonclient.grpc) and KServe register the same `inference.*` names from their own copies of the
# proto, and two definitions of one name in the default pool make the second import fail.
set -euo pipefail
cd "$(dirname "$0")/.."
GRPCIO_TOOLS_VERSION=1.74.0
venv="${XDG_CACHE_HOME:-$HOME/.cache}/detector-operator/grpcio-tools-$GRPCIO_TOOLS_VERSION"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import grpc_tools" 2>/dev/null; then
  echo "==> creating $venv (grpcio-tools $GRPCIO_TOOLS_VERSION)"
  python3.11 -m venv "$venv"
  "$venv/bin/pip" install --quiet "grpcio-tools==$GRPCIO_TOOLS_VERSION"
fi
out=inference_server/protocol/oip
# --pyi_out: type stubs for the messages, so mypy checks the code that builds and reads them.
"$venv/bin/python" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. "$out/open_inference_grpc.proto"
sed -i 's/_descriptor_pool\.Default()\.AddSerializedFile/_descriptor_pool.DescriptorPool().AddSerializedFile/' \
  "$out/open_inference_grpc_pb2.py"
grep -q 'DescriptorPool().AddSerializedFile' "$out/open_inference_grpc_pb2.py" \
  || { echo "gen-protos: the private-pool rewrite did not apply (protoc output changed?)" >&2; exit 1; }
echo "==> regenerated $out/open_inference_grpc_pb2.py, its .pyi and open_inference_grpc_pb2_grpc.py"
