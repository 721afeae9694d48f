"""Per-engine check drivers; `create` picks one for a target."""

from __future__ import annotations

from concurrent.futures import Executor

from planwatch.checks.drivers.base import Driver
from planwatch.config.settings import TargetSettings


def create(target: TargetSettings, executor: Executor, max_idle: int) -> Driver:
    """The driver for the target's engine (imported on demand: optional drivers stay so)."""
    engine = target.engine
    if engine == "postgresql":
        from planwatch.checks.drivers import postgres

        return postgres.PgDriver(target, max_idle=max_idle)
    if engine in ("mysql", "mariadb"):
        from planwatch.checks.drivers import mysql

        return mysql.driver(target, executor, max_idle)
    if engine == "sqlite":
        from planwatch.checks.drivers import sqlite

        return sqlite.driver(target, executor, max_idle)
    if engine == "sqlserver":
        from planwatch.checks.drivers import sqlserver

        return sqlserver.driver(target, executor, max_idle)
    from planwatch.checks.drivers import other

    return other.driver(target, executor, max_idle)
