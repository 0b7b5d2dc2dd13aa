"""Pelukis engine: the GPU side.

Importing this package is cheap and torch-free; `engine.protocol`, `engine.styles` and
`engine.client` are what the bot process uses. `engine.core` (the `Engine` class) and
`engine.process` (the process loop) import torch and run only in the engine process.
"""
