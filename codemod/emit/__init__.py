"""Applying a plan: tasks modules, the runner, rewritten call sites, the guard, atomic writes."""
