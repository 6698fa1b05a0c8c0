"""What every loss shares; the losses in :mod:`torchfocal.losses` use it through these
modules (their public names are the engine's interface), and the engine knows no loss by
name:

- :mod:`.checks`: argument and value checks (eager on CPU, device-side asserts elsewhere);
- :mod:`.targets`: every target form checked (one step) and turned into the operands the
  kernels take (another step);
- :mod:`.reduction`: divisors, sums and normalisers;
- :mod:`.numerics`: the numerically careful pieces the loss formulas are written with;
- :mod:`.engine`: the one entry point, :func:`.engine.run`: a loss hands it a request
  (checked arguments or prepared operands, and the loss's math), and it picks the runner
  by backend and device;
- :mod:`.autograd`: the one autograd Function (the gradient saved in forward, or the
  Triton kernel launched again in backward) and the choice between it and autograd;
- :mod:`.runners`: the fused runner of each kind of device (CPU blocks, one pass);
- :mod:`.compiled`: the fused math through ``torch.compile`` (each loss compiles its own);
- :mod:`.triton_runner`: backend "triton", the kernels of :mod:`torchfocal._triton` as
  ``torch.library`` custom ops;
- :mod:`.regions`: the region (Dice-like) losses' sums and their runners.
"""
