"""Measuring a case: one phase driver (driver) over backends that supply a timer, a
reset and peaks (cpu, cuda), with NVML, the environment and the statistics of samples.
See ARCHITECTURE.md."""
