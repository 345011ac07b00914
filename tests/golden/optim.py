"""Golden values for tests/optim.rs, computed with PyTorch's own optimizers (float64).

Run: python3 tests/golden/optim.py   (needs `pip install torch`; not a dependency of the crate)

Two parameters, a 2x2 "weights" (index 0) and a 1x2 "bias" (index 1), get three fixed gradients,
one per step; after each `opt.step()` the script prints both parameters in row-major order.
It also prints torch.optim.lr_scheduler values and clip_grad_norm_ results.
"""
import math

import torch

torch.set_default_dtype(torch.float64)

W0 = [[0.5, -1.0], [2.0, 0.0]]
B0 = [[0.25, -0.75]]
GRADS = [
    ([[0.1, -0.2], [0.3, 0.0]], [[1.0, -0.5]]),
    ([[-0.4, 0.5], [0.0, 2.0]], [[0.5, 0.25]]),
    ([[0.3, 0.1], [-0.2, -1.0]], [[-2.0, 0.0]]),
]

CASES = [
    ("SGD_PLAIN", lambda p: torch.optim.SGD(p, lr=0.1)),
    ("SGD_MOMENTUM", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    ("SGD_NESTEROV", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD_WEIGHT_DECAY", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=0.1)),
    ("RMSPROP_DEFAULT", lambda p: torch.optim.RMSprop(p)),
    ("RMSPROP_FULL", lambda p: torch.optim.RMSprop(
        p, lr=0.05, alpha=0.9, eps=1e-6, momentum=0.8, centered=True, weight_decay=0.1)),
    ("ADAGRAD_DEFAULT", lambda p: torch.optim.Adagrad(p, lr=0.1)),
    ("ADAGRAD_FULL", lambda p: torch.optim.Adagrad(
        p, lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-6)),
    ("ADAM_DEFAULT", lambda p: torch.optim.Adam(p, lr=0.1)),
    ("ADAM_FULL", lambda p: torch.optim.Adam(
        p, lr=0.05, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.1)),
    ("ADAMW_DEFAULT", lambda p: torch.optim.AdamW(p, lr=0.1)),
    ("ADAMW_FULL", lambda p: torch.optim.AdamW(
        p, lr=0.05, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.5)),
]


def fmt(values):
    return ", ".join(repr(float(v)) for v in values)


for name, make in CASES:
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    opt = make([w, b])
    print(f"// {name}: torch {torch.__version__}")
    print(f"const {name}: [[f64; 6]; 3] = [")
    for gw, gb in GRADS:
        w.grad = torch.tensor(gw)
        b.grad = torch.tensor(gb)
        opt.step()
        print(f"    [{fmt(w.detach().flatten().tolist() + b.detach().flatten().tolist())}],")
    print("];")

# Schedules: lr at epochs 0..=12 from a base lr of 0.1 (one scheduler.step() per epoch).
SCHEDULES = [
    ("STEP_LR", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    ("EXPONENTIAL_LR", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    ("COSINE_LR", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
]
for name, make in SCHEDULES:
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    lrs = []
    for _ in range(13):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    print(f"const {name}: [f64; 13] = [{fmt(lrs)}];")

# Gradient clipping by global norm.
for name, max_norm in [("CLIP_SHRINK", 1.0), ("CLIP_KEEP", 10.0)]:
    gs = [torch.tensor(GRADS[1][0]), torch.tensor(GRADS[1][1])]
    ps = [torch.zeros_like(g, requires_grad=True) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    flat = [v for p in ps for v in p.grad.flatten().tolist()]
    print(f"// {name}: norm {float(norm)!r}")
    print(f"const {name}: (f64, [f64; 6]) = ({float(norm)!r}, [{fmt(flat)}]);")
