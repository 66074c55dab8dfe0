"""Runs a migration schemashift wrote for Alembic or Django against stand-ins
of the tool's API that record every SQL string and whether it ran inside a
transaction.

    python3 run_migration.py <alembic|django> <file>...

Prints one JSON list with, per file,
{"up": [{sql, tx}], "down": [...] | {"error": message}, ...}. For
Alembic the SQL is what SQLAlchemy's text() would send: an unescaped
`:name` is an error (a bind parameter without a value), `\\:` becomes `:`.
"""
import contextlib
import importlib.util
import json
import re
import sys
import types

BIND_PARAMS = re.compile(r"(?<![:\w\$\x5c]):([\w\$]+)(?![:\w\$])", re.UNICODE)
BIND_PARAMS_ESC = re.compile(r"\x5c(:[\w\$]*)(?![:\w\$])", re.UNICODE)


def text_sql(sql):
    found = BIND_PARAMS.search(sql)
    if found:
        raise ValueError("A value is required for bind parameter %r" % found.group(1))
    return BIND_PARAMS_ESC.sub(lambda m: m.group(1), sql)


def load(path):
    spec = importlib.util.spec_from_file_location("migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alembic(path):
    log = []
    state = {"autocommit": False}

    class Context:
        @contextlib.contextmanager
        def autocommit_block(self):
            if state["autocommit"]:
                raise RuntimeError("nested autocommit_block")
            state["autocommit"] = True
            try:
                yield
            finally:
                state["autocommit"] = False

    op = types.ModuleType("alembic.op")
    op.execute = lambda sql: log.append({"sql": text_sql(sql), "tx": not state["autocommit"]})
    op.get_context = lambda: Context()
    pkg = types.ModuleType("alembic")
    pkg.op = op
    sys.modules["alembic"] = pkg
    sys.modules["alembic.op"] = op
    module = load(path)
    result = {"revision": module.revision, "down_revision": module.down_revision}
    module.upgrade()
    result["up"] = list(log)
    log.clear()
    try:
        module.downgrade()
        result["down"] = list(log)
    except NotImplementedError as e:
        result["down"] = {"error": str(e)}
    return result


def django(path):
    class RunSQL:
        noop = ""

        def __init__(self, sql, reverse_sql=None, **kwargs):
            self.sql = sql
            self.reverse_sql = reverse_sql

    class Migration:
        atomic = True

    migrations = types.ModuleType("django.db.migrations")
    migrations.RunSQL = RunSQL
    migrations.Migration = Migration
    db = types.ModuleType("django.db")
    db.migrations = migrations
    sys.modules["django"] = types.ModuleType("django")
    sys.modules["django.db"] = db
    sys.modules["django.db.migrations"] = migrations
    module = load(path)
    m = module.Migration
    tx = m.atomic

    def statements(sqls):
        if sqls == RunSQL.noop:
            return []
        assert isinstance(sqls, list), sqls
        return [{"sql": s, "tx": tx} for s in sqls]

    (op,) = m.operations
    result = {
        "dependencies": [list(d) for d in m.dependencies],
        "atomic": tx,
        "up": statements(op.sql),
    }
    if op.reverse_sql is None:
        result["down"] = {"error": "irreversible"}
    else:
        result["down"] = statements(op.reverse_sql)
    return result


if __name__ == "__main__":
    tool = sys.argv[1]
    run = {"alembic": alembic, "django": django}[tool]
    print(json.dumps([run(path) for path in sys.argv[2:]]))
