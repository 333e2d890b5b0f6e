"""The models a sweep measures: the registry of VAEs (registry), building one on a
device (build), a case's input and call (workloads), its variant axes (variants) and
its quality against the reference output (quality). See ARCHITECTURE.md."""
