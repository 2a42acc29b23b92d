"""Training/serving skew and drift monitoring: a second TFX pipeline over
serving data, compared with the data that trained the served model."""
