"""Shared set-up for every test module: choose the Keras backend and seed everything first.

Keras fixes its backend at its first import, so this runs before any test module imports it;
the modules then import Keras at the top like any other library.
"""

from helpers.environment import prepare

prepare(seed=0)
