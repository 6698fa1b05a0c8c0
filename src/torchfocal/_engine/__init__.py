"""What every loss shares; the losses in :mod:`torchfocal.losses` use it through these
modules (their public names are the engine's interface), and the engine knows no loss by
name:

- :mod:`.checks`: argument and value checks (eager on CPU, device-side asserts elsewhere);
- :mod:`.targets`: every target form turned into the operands the kernels take;
- :mod:`.reduction`: divisors, sums and normalisers;
- :mod:`.numerics`: the numerically careful pieces the loss formulas are written with;
- :mod:`.autograd`: the autograd Functions (fused: the gradient saved in forward;
  Triton: the kernel launched again in backward) and the choice between them and autograd;
- :mod:`.runners`: the runner of each kind of device (CPU blocks, one pass);
  :func:`.runners.run` runs a loss on backend "naive", "fused" or "compiled", and
  :func:`.runners.elementwise` every backend of an elementwise loss;
- :mod:`.compiled`: the fused math through ``torch.compile`` (each loss compiles its own);
- :mod:`.triton_runner`: backend "triton", the kernels of :mod:`torchfocal._triton` as
  ``torch.library`` custom ops.
"""
