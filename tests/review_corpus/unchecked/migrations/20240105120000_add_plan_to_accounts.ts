import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("accounts", (table) => {
    table.string("plan").notNullable().defaultTo("free");
    table.index(["plan"]);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("accounts", (table) => {
    table.dropIndex(["plan"]);
    table.dropColumn("plan");
  });
}
