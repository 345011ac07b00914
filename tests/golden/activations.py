"""Golden values for tests/activations.rs: each new activation's value and derivative, computed by
PyTorch (forward with torch.nn.functional, derivative with autograd), in float64 and float32.

Run (from the repository root), with torch installed in a virtual environment:

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
    /tmp/torchenv/bin/python tests/golden/activations.py

and paste its output into tests/activations.rs. Each value is printed with Python's repr of the
float64 (a float32 result converts to float64 exactly, so `as f32` in Rust gives it back).
"""
import torch
import torch.nn.functional as F

Z = [-30.0, -20.5, -5.0, -2.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.0, 5.0, 19.5, 20.5, 30.0]

CASES = [
    ("LEAKY_RELU_DEFAULT", lambda z: F.leaky_relu(z)),             # negative_slope = 0.01
    ("LEAKY_RELU_0_2", lambda z: F.leaky_relu(z, negative_slope=0.2)),
    ("ELU_DEFAULT", lambda z: F.elu(z)),                           # alpha = 1.0
    ("ELU_0_5", lambda z: F.elu(z, alpha=0.5)),
    ("GELU_EXACT", lambda z: F.gelu(z, approximate="none")),
    ("GELU_TANH", lambda z: F.gelu(z, approximate="tanh")),
    ("SILU", lambda z: F.silu(z)),
    ("SOFTPLUS", lambda z: F.softplus(z)),                         # beta = 1, threshold = 20
]


def values(f, dtype):
    z = torch.tensor(Z, dtype=dtype, requires_grad=True)
    y = f(z)
    y.backward(torch.ones_like(y))
    return [float(v) for v in y.detach()], [float(v) for v in z.grad]


def rust(xs):
    return "[" + ", ".join(repr(x) for x in xs) + "]"


print(f"// torch {torch.__version__}, CPU")
print(f"const Z: [f64; {len(Z)}] = {rust(Z)};")
for name, f in CASES:
    for dtype, suffix in ((torch.float64, "F64"), (torch.float32, "F32")):
        y, dy = values(f, dtype)
        print(f"const {name}_{suffix}: Golden = Golden {{ f: {rust(y)}, df: {rust(dy)} }};")
