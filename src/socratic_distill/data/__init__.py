"""Datasets: loaders for GSM8K, SVAMP, StrategyQA, user files, and the synthetic benchmark."""
