#!/bin/sh
# Runs the PyTorch interop check: export_twin.py writes the twin's weights, a
# batch and PyTorch's output; check_forward must agree with them, and must
# catch the weights exported without the flatten reordering.
#
#   run_check.sh PYTHON CHECK_FORWARD WORK_DIR
#
# Exits 77 (ctest's SKIP_RETURN_CODE) when PYTHON cannot import torch.
set -u
python=$1
check=$2
work=$3
here=$(cd "$(dirname "$0")" && pwd)

if ! "$python" -c 'import torch' >/dev/null 2>&1; then
    echo "skipped: $python cannot import torch (install python3-torch to run this check)"
    exit 77
fi
"$python" "$here/export_twin.py" "$work" || exit 1
"$check" "$work/weights.safetensors" "$work/batch.safetensors" || exit 1

"$check" "$work/weights_flatten_unordered.safetensors" "$work/batch.safetensors"
status=$?
if [ "$status" -ne 1 ]; then
    echo "run_check.sh: weights without the (C,H,W) -> (H,W,C) reordering should disagree (exit 1), got exit $status"
    exit 1
fi
echo "as expected, the weights without the flatten reordering disagree"
