"""Tests of torchfocal.losses: test_<module>.py for each loss module of
src/torchfocal/losses/, with its own numerics, relations, options and errors, and the
helpers several of them share (focal_family, long_tail, stateful, regions)."""
