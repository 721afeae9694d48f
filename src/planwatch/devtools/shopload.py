"""A realistic, noisy PostgreSQL workload for the detection scenario suite (tests and bench).

A shop database (customers, products, orders, inventory, shipments, events) used by two
application roles: `app` (OLTP: sub-millisecond lookups, inserts, hot-row updates) and `report`
(joins and aggregates of 1-100 ms), 14 statement shapes in all. Clients send them with Poisson
arrivals (exponential think time), in bursts of three times the rate every so often, and
reconnect every 20-60 s (connection churn: new sessions pick up `ALTER ROLE ... SET` changes,
as real pools do). `scale` multiplies the arrival rate (load doubling keeps per-call costs).
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg

SCHEMA = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, region text NOT NULL,
  created_at timestamptz NOT NULL);
INSERT INTO customers SELECT i, 'customer ' || i, (ARRAY['north','south','east','west',
  'north-east','north-west','south-east','south-west'])[1 + i % 8],
  now() - (i || ' hours')::interval FROM generate_series(1, 8000) i;
CREATE TABLE products (id int PRIMARY KEY, sku text UNIQUE NOT NULL, name text NOT NULL,
  price numeric(10,2) NOT NULL, category text NOT NULL);
INSERT INTO products SELECT i, 'SKU-' || i, 'product ' || i, (i % 500) + 0.99,
  (ARRAY['books','toys','food','tools','garden'])[1 + i % 5] FROM generate_series(1, 2000) i;
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
  total numeric(10,2) NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO orders (customer_id, status, total, created_at)
  SELECT 1 + (i::bigint * 7919) % 8000, (ARRAY['new','paid','shipped','delivered'])[1 + i % 4],
         (i % 1000) / 10.0, now() - (i * 3 || ' seconds')::interval
  FROM generate_series(1, 200000) i;
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE TABLE inventory (product_id int PRIMARY KEY, stock int NOT NULL,
  updated_at timestamptz NOT NULL);
INSERT INTO inventory SELECT id, 100000000, now() FROM products;
CREATE TABLE shipments (id serial PRIMARY KEY, order_id int NOT NULL, depot int NOT NULL,
  zone int NOT NULL, region int NOT NULL, state text NOT NULL);
INSERT INTO shipments (order_id, depot, zone, region, state)
  SELECT i * 2, i % 1000, (i % 1000) / 10, (i % 1000) / 100,
         (ARRAY['transit','delivered'])[1 + i % 2] FROM generate_series(1, 100000) i;
CREATE INDEX shipments_order_id_idx ON shipments (order_id);
CREATE STATISTICS shipments_geo (dependencies) ON depot, zone, region FROM shipments;
CREATE TABLE tariffs (zone int NOT NULL, weight int NOT NULL, rate numeric NOT NULL);
INSERT INTO tariffs SELECT z, w, 1.5 FROM generate_series(0, 99) z, generate_series(1, 200) w;
CREATE TABLE blocked_customers (customer_id int NOT NULL);
INSERT INTO blocked_customers SELECT i FROM generate_series(1, 6000) i;
CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload text,
  at timestamptz NOT NULL);
ANALYZE;
"""

ROLES = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'report') THEN
    CREATE ROLE report LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'planwatch') THEN
    CREATE ROLE planwatch LOGIN; END IF;
END $$;
GRANT pg_read_all_stats TO planwatch;
-- Lets planwatch EXPLAIN the applications' writes as them (its sessions stay read-only).
GRANT app, report TO planwatch;
"""

GRANTS = """
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO app, report;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app, report;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO planwatch;
"""

Args = Callable[[random.Random], tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class Shape:
    """One statement shape: its SQL, how often it comes (per second, at scale 1), its role."""

    name: str
    sql: str
    rate: float
    args: Args
    role: str = "app"


HOT_PRODUCTS = (1, 2, 3)
REGIONS = ("north", "south", "east", "west", "north-east", "north-west", "south-east",
           "south-west")
SHAPES: tuple[Shape, ...] = (
    Shape("customer", "SELECT name, region FROM customers WHERE id = %s", 8.0,
          lambda r: (r.randint(1, 8000),)),
    Shape("customer_orders", "SELECT o.id, o.total, o.created_at FROM orders o "
          "WHERE o.customer_id = %s ORDER BY o.created_at DESC LIMIT 20", 5.0,
          lambda r: (r.randint(1, 8000),)),
    Shape("product", "SELECT id, name, price FROM products WHERE sku = %s", 5.0,
          lambda r: (f"SKU-{r.randint(1, 2000)}",)),
    Shape("stock", "SELECT stock FROM inventory WHERE product_id = %s", 4.0,
          lambda r: (r.randint(1, 2000),)),
    Shape("reserve", "UPDATE inventory SET stock = stock - 1, updated_at = now() "
          "WHERE product_id = %s", 2.0, lambda r: (r.choice(HOT_PRODUCTS),)),
    Shape("new_order", "INSERT INTO orders (customer_id, status, total, created_at) "
          "VALUES (%s, 'new', %s, now()) RETURNING id", 1.5,
          lambda r: (r.randint(1, 8000), round(r.uniform(5, 500), 2))),
    Shape("order_status", "UPDATE orders SET status = %s WHERE id = %s", 1.5,
          lambda r: (r.choice(["paid", "shipped"]), r.randint(1, 200000))),
    Shape("event", "INSERT INTO events (kind, payload, at) VALUES (%s, %s, now())", 3.0,
          lambda r: (r.choice(["view", "cart", "search"]), "x" * r.randint(10, 200))),
    Shape("order_detail", "SELECT o.id, o.status, c.name FROM orders o JOIN customers c "
          "ON c.id = o.customer_id WHERE o.id = %s", 3.0, lambda r: (r.randint(1, 200000),)),
    Shape("recent_by_status", "SELECT id, total FROM orders WHERE status = %s "
          "ORDER BY created_at DESC LIMIT 50", 1.0,
          lambda r: (r.choice(["new", "paid", "shipped"]),)),
    Shape("tariff", "SELECT count(*), sum(t.rate) FROM shipments s JOIN tariffs t "
          "ON t.zone = s.zone WHERE s.depot = %s AND s.zone = %s AND s.region = %s", 0.8,
          lambda r: _depot(r.randint(0, 999)), role="report"),
    Shape("revenue", "SELECT date_trunc('day', created_at) AS day, sum(total) FROM orders "
          "WHERE created_at > now() - %s::interval GROUP BY 1 ORDER BY 1", 0.2,
          lambda r: ("2 days",), role="report"),
    Shape("allowed_customers", "SELECT count(*) FROM customers c WHERE c.region = %s "
          "AND c.id NOT IN (SELECT customer_id FROM blocked_customers)", 0.8,
          lambda r: (r.choice(REGIONS),), role="report"),
    Shape("status_counts", "SELECT status, count(*) FROM orders GROUP BY status", 0.2,
          lambda r: (), role="report"),
)


def _depot(depot: int) -> tuple[object, ...]:
    return depot, depot // 10, depot // 100


def shape(name: str) -> Shape:
    return next(s for s in SHAPES if s.name == name)


def text_prefix(name: str) -> str:
    """The shape's statement text up to its first parameter or literal (pg_stat_statements
    replaces literals with $n): what its stored, normalized text starts with."""
    return re.split(r"%s|\d|'", shape(name).sql, maxsplit=1)[0].strip()[:60]


@dataclass
class Shop:
    """A running workload on one database: client threads per role until `stop()`."""

    dsn_for: Callable[[str], str]  # role -> DSN
    clients: dict[str, int] = field(default_factory=lambda: {"app": 3, "report": 2})
    shapes: Sequence[Shape] = SHAPES
    seed: int = 0
    scale: float = 1.0
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _burst_until: float = 0.0
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Shop:
        rnd = random.Random(self.seed)
        for role, n in self.clients.items():
            mine = [s for s in self.shapes if s.role == role]
            for i in range(n):
                t = threading.Thread(target=self._client, args=(role, mine, n, rnd.random()),
                                     name=f"shop-{role}-{i}", daemon=True)
                self._threads.append(t)
                t.start()
        burst = threading.Thread(target=self._bursts, args=(rnd.random(),), daemon=True)
        self._threads.append(burst)
        burst.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def _bursts(self, seed: float) -> None:
        """Every 15-40 s, 2-4 s at three times the rate."""
        rnd = random.Random(seed)
        while not self._stop.wait(rnd.uniform(15, 40)):
            self._burst_until = time.monotonic() + rnd.uniform(2, 4)

    def _client(self, role: str, shapes: list[Shape], clients: int, seed: float) -> None:
        rnd = random.Random(seed)
        weights = [s.rate for s in shapes]
        per_client = sum(weights) / clients
        while not self._stop.is_set():
            lifetime = time.monotonic() + rnd.uniform(20, 60)
            try:
                with psycopg.connect(self.dsn_for(role), autocommit=True) as conn:
                    while time.monotonic() < lifetime and not self._stop.is_set():
                        s = rnd.choices(shapes, weights)[0]
                        cur = conn.execute(s.sql, s.args(rnd))
                        if cur.description:
                            cur.fetchall()
                        self.calls += 1
                        rate = per_client * self.scale * (
                            3.0 if time.monotonic() < self._burst_until else 1.0)
                        self._stop.wait(rnd.expovariate(rate))
            except psycopg.Error as exc:  # a scenario may break a session; note it, go on
                self.errors.append(f"{role}: {type(exc).__name__}: {str(exc).strip()[:200]}")
                self._stop.wait(0.5)


@dataclass
class LockHolder:
    """Another application transaction that keeps the hot inventory rows locked: it updates
    them, then stays idle in transaction (client-side work) for `hold_s`, again and again."""

    dsn: str
    hold_s: float = 1.5
    pause_s: float = 0.3
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> LockHolder:
        self._thread = threading.Thread(target=self._run, daemon=True, name="lock-holder")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        with psycopg.connect(self.dsn) as conn:
            while not self._stop.is_set():
                with contextlib.suppress(psycopg.Error):
                    conn.execute("UPDATE inventory SET updated_at = now() "
                                 "WHERE product_id = ANY(%s)", (list(HOT_PRODUCTS),))
                    self._stop.wait(self.hold_s)
                    conn.commit()
                self._stop.wait(self.pause_s)
