"""Pelukis engine: the GPU side (map of the modules: docs/engine.md).

Importing this package is cheap and torch-free. The bot process uses only the torch-free
modules: `engine.client`, `engine.protocol`, `engine.errors`, `engine.settings`,
`engine.faults` and `engine.styles`. The others import torch and run only in the engine
process (`engine.process`, the process loop around `engine.core.Engine`).
"""
