"""User code of the taxi model: features, preprocessing, model, training."""
