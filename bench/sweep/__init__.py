"""The sweep path: a YAML sweep parsed (config), expanded into cases (cases), planned
(plan), launched on one device, every GPU of a host or a fleet (launch, host, fleet)
and measured case by case in worker processes (runner, worker). See ARCHITECTURE.md."""
