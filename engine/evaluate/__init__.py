"""Judging a style: ``python -m engine.evaluate --style NAME --prompts FILE --out DIR``.

Images of the base model and of the style for the same prompts and seeds, made by the same
``Engine`` the bot uses (templates, negatives and the LoRA apply as in the chat); CLIP score
(``engine.scoring``, the captions' number), CMMD and FID (``metrics``, on the embeddings of
``features``), a seed/steps/guidance sweep, and the report (``report``: metrics.json, plots,
contact sheets). docs/training.md says how to read it.
"""
