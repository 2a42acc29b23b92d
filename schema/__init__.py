"""The curated schema, `schema.pbtxt`: installed as package data beside this
file, so an installed project (not only a checkout) finds it."""

import os

SCHEMA_DIR = os.path.dirname(os.path.abspath(__file__))
