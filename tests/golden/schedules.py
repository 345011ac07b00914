"""Golden learning rates for tests/steer.rs, computed with PyTorch's own schedulers (float64).

Run: /tmp/torchenv/bin/python tests/golden/schedules.py   (a venv with `pip install torch`;
torch is not a dependency of the crate). Printed with torch 2.15.0+cu132 on the CPU, Python 3.11.7.

Each case builds torch.optim.SGD on one parameter, then for every epoch records the rate the
epoch trains with (param_groups[0]['lr']) and calls scheduler.step() as a training loop does at
the end of the epoch: LinearLR's step() takes no argument, ReduceLROnPlateau's takes the epoch's
loss. Each line is `NAME = [rates]`, in Python's shortest round-trip form.
"""
import torch

torch.set_default_dtype(torch.float64)


def rates(lr, make, losses):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    sched = make(opt)
    out = []
    for loss in losses:
        out.append(opt.param_groups[0]["lr"])
        opt.step()  # PyTorch warns if a scheduler steps before the optimizer
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(loss)
        else:
            sched.step()
    return out


# Losses for the plateau: improvements above and below the 10% relative threshold, a cooldown,
# reductions down to min_lr, and a reduction that min_lr makes too small to take.
PLATEAU_LOSSES = [1.0, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7, 0.7,
                  0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]

CASES = [
    ("LINEAR_WARMUP", 0.1,
     lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=1.0,
                                                 total_iters=4),
     [0.0] * 8),
    ("LINEAR_DECAY", 0.3,
     lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                                 total_iters=5),
     [0.0] * 8),
    ("PLATEAU_FULL", 0.1,
     lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
         o, mode="min", factor=0.5, patience=1, threshold=0.1, threshold_mode="rel",
         cooldown=2, min_lr=0.02),
     PLATEAU_LOSSES),
    # A loss that never changes (a network that cannot learn): patience 2, factor 0.5.
    ("PLATEAU_CONSTANT", 0.1,
     lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode="min", factor=0.5,
                                                          patience=2),
     [0.125] * 12),
]

print("# torch", torch.__version__)
for name, lr, make, losses in CASES:
    print(f"{name} = {rates(lr, make, losses)!r}")
