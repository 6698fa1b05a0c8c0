"""Tests of torchfocal.compat: test_<module>.py for each compat module (the folder mirrors
src/torchfocal/compat/)."""
