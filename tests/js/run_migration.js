// Runs a migration schemashift wrote for Knex, TypeORM or Sequelize against
// stand-ins of the tool's API that record every SQL string and whether it
// ran inside a transaction (the tool's own, or one the migration opened).
//
//   node run_migration.js <knex|typeorm|sequelize> <typescript module dir|-> <file>...
//
// Prints one JSON array with, per file,
// {"up": [{sql, tx}], "down": [{sql, tx}] | {"error": message}}.
// TypeScript is transpiled with the TypeScript compiler first; syntax errors
// are printed and exit 1.
"use strict";

const fs = require("fs");
const Module = require("module");

const [tool, tsdirArg, ...files] = process.argv.slice(2);
const tsdir = tsdirArg === "-" ? undefined : tsdirArg;

function load(file) {
  let src = fs.readFileSync(file, "utf8");
  if (file.endsWith(".ts")) {
    const ts = require(tsdir || "typescript");
    const out = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020 },
      reportDiagnostics: true,
      fileName: file,
    });
    if (out.diagnostics && out.diagnostics.length) {
      for (const d of out.diagnostics) {
        console.error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      }
      process.exit(1);
    }
    src = out.outputText;
  }

  const m = new Module(file, null);
  m.filename = file;
  m.require = (id) => {
    if (id === "typeorm" || id === "knex") return {};
    return require(id);
  };
  m._compile(src, file);
  return m.exports;
}

let log = [];
let inTx = false;

// knex.raw: `?` is a positional binding (an error without bindings), `\?` a literal `?`.
function knexSql(sql) {
  const bare = sql.replace(/\\\?/g, "");
  if (bare.includes("?")) throw new Error("Expected 0 bindings, saw 1");
  return sql.replace(/\\\?/g, "?");
}

async function run(exp, direction) {
  log = [];
  inTx = false;
  if (tool === "knex") {
    const wrapped = !(exp.config && exp.config.transaction === false);
    const raw = async (sql) => log.push({ sql: knexSql(sql), tx: wrapped || inTx });
    const knex = {
      raw,
      transaction: async (fn) => {
        if (wrapped || inTx) throw new Error("nested transaction");
        inTx = true;
        try {
          return await fn({ raw });
        } finally {
          inTx = false;
        }
      },
    };
    await exp[direction](knex);
  } else if (tool === "typeorm") {
    const Cls = typeof exp === "function" ? exp : Object.values(exp)[0];
    const migration = new Cls();
    const wrapped = migration.transaction !== false;
    const queryRunner = {
      query: async (sql) => log.push({ sql, tx: wrapped || inTx }),
      startTransaction: async () => {
        if (wrapped || inTx) throw new Error("transaction already started");
        inTx = true;
      },
      commitTransaction: async () => {
        if (!inTx) throw new Error("no transaction");
        inTx = false;
      },
      rollbackTransaction: async () => {
        inTx = false;
      },
    };
    await migration[direction](queryRunner);
    if (inTx) throw new Error("transaction left open");
  } else if (tool === "sequelize") {
    const sequelize = {
      query: async (sql, opts) => log.push({ sql, tx: !!(opts && opts.transaction) }),
      transaction: async (fn) => fn({ id: "t" }),
    };
    await exp[direction]({ sequelize }, {});
  } else {
    throw new Error(`unknown tool ${tool}`);
  }
  return log;
}

(async () => {
  const results = [];
  for (const file of files) {
    const exp = load(file);
    const result = {};
    result.up = await run(exp, "up");
    try {
      result.down = await run(exp, "down");
    } catch (e) {
      result.down = { error: String(e.message || e) };
    }
    results.push(result);
  }
  process.stdout.write(JSON.stringify(results));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
