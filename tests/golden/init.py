"""Golden values for tests/init.rs, computed with NumPy (legacy seeded generator) and PyTorch.

Run: python3 tests/golden/init.py   (needs `pip install numpy torch`; not a dependency of the crate)
"""
import math

import numpy as np
import torch


def fmt(values):
    return ", ".join(repr(float(v)) for v in values)


# np.random.seed(42); np.random.uniform(-.1, .1, (64, 4)): rows 0, 1 and 63.
np.random.seed(42)
u = np.random.uniform(-0.1, 0.1, (64, 4))
print(f"const UNIFORM_42: [[f64; 4]; 3] = [[{fmt(u[0])}], [{fmt(u[1])}], [{fmt(u[63])}]];")

# np.random.seed(1); np.random.normal(0.5, 2.0, (3, 3)): an odd count, row-major.
np.random.seed(1)
n = np.random.normal(0.5, 2.0, (3, 3))
print(f"const NORMAL_1: [f64; 9] = [{fmt(n.flatten())}];")

# np.random.seed(5); a = np.random.normal(0, 1, (2, 2)); b = np.random.normal(-1, 0.1, (2, 3))
np.random.seed(5)
a = np.random.normal(0.0, 1.0, (2, 2))
b = np.random.normal(-1.0, 0.1, (2, 3))
print(f"const NORMAL_5_A: [f64; 4] = [{fmt(a.flatten())}];")
print(f"const NORMAL_5_B: [f64; 6] = [{fmt(b.flatten())}];")

# PyTorch's scales for a layer of 64 inputs and 4 outputs (torch weight shape: (out, in)).
w = torch.empty(4, 64, dtype=torch.float64)
fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(w)
gain_relu = torch.nn.init.calculate_gain("relu")
print(f"// fan_in {fan_in}, fan_out {fan_out}, relu gain {gain_relu!r}")
# kaiming_uniform_(mode="fan_in", nonlinearity="relu"): bound = sqrt(3) * gain / sqrt(fan_in)
print(f"const HE_UNIFORM_BOUND: f64 = {math.sqrt(3.0) * gain_relu / math.sqrt(fan_in)!r};")
# kaiming_normal_(mode="fan_in", nonlinearity="relu"): std = gain / sqrt(fan_in)
print(f"const HE_NORMAL_STD: f64 = {gain_relu / math.sqrt(fan_in)!r};")
# xavier_uniform_ (gain 1): bound = sqrt(3) * sqrt(2 / (fan_in + fan_out))
print(f"const GLOROT_UNIFORM_BOUND: f64 = {math.sqrt(3.0) * math.sqrt(2.0 / (fan_in + fan_out))!r};")
# xavier_normal_ (gain 1): std = sqrt(2 / (fan_in + fan_out))
print(f"const GLOROT_NORMAL_STD: f64 = {math.sqrt(2.0 / (fan_in + fan_out))!r};")

# Cross-check those scales on large draws from torch itself.
torch.manual_seed(0)
big = torch.empty(4000, 64, dtype=torch.float64)
torch.nn.init.kaiming_uniform_(big, mode="fan_in", nonlinearity="relu")
print(f"// torch kaiming_uniform_: max |w| {big.abs().max().item()!r}")
torch.nn.init.kaiming_normal_(big, mode="fan_in", nonlinearity="relu")
print(f"// torch kaiming_normal_: std {big.std().item()!r}")
