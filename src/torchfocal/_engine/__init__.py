"""What every loss shares; the losses in :mod:`torchfocal.losses` use it through these
modules (their public names are the engine's interface), and the engine knows no loss by
name:

- :mod:`.checks`: argument and value checks (eager on CPU, device-side asserts elsewhere);
- :mod:`.targets`: every target form turned into the operands the kernels take;
- :mod:`.reduction`: divisors, sums and normalisers;
- :mod:`.numerics`: the numerically careful pieces the loss formulas are written with;
- :mod:`.autograd`: the one autograd Function of the fused backends;
- :mod:`.runners`: the runner of each kind of device (CPU blocks, one pass) and
  :func:`.runners.run`, the one entry point of every loss;
- :mod:`.compiled`: the same kernels through ``torch.compile``.
"""
