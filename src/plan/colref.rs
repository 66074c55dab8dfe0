//! Rewriting column references inside a user's SQL expression (a type
//! change's USING): on the parsed expression, never on its text, so a type
//! named `order_status`, a column `price_cents` or a literal `'status'`
//! are left alone when `status` or `price` is the column being replaced.
//!
//! PostgreSQL's folding decides what is a reference: an unquoted name is
//! folded to lower case (ASCII letters only), a quoted one is exact.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, visit_expressions_mut, Expr, Ident as SqlIdent};

use crate::context::Engine;
use crate::ident::{fold_pg, Ident, QualifiedName};
use crate::sqltext::parse_expr;

/// An expression parsed once, whose references to one column can be
/// pointed at any other SQL (a renamed column, `r."price"`).
#[derive(Debug, Clone)]
pub struct ColumnExpr {
    expr: Expr,
    column: Ident,
}

/// Whether a name as written refers to the stored name `name`.
fn names(id: &SqlIdent, name: &str) -> bool {
    match id.quote_style {
        None => fold_pg(&id.value) == name,
        Some('"') => id.value == name,
        Some(_) => false,
    }
}

impl ColumnExpr {
    /// Parses `text` (exactly one expression, no comments) as an expression
    /// over the rows of `table`. Refuses what PostgreSQL refuses in a
    /// USING expression anyway and what would make a reference ambiguous:
    /// subqueries, and references qualified by another table.
    pub fn parse(
        what: &str,
        text: &str,
        table: &QualifiedName,
        column: &Ident,
    ) -> Result<Self, String> {
        let expr = parse_expr(what, text, Engine::Postgres)?;
        let mut problem = None;
        let _ = visit_expressions(&expr, |e| {
            match e {
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    problem = Some(format!(
                        "{what} `{text}` holds a subquery: PostgreSQL accepts only the row's own columns in a type conversion; compute the value from the row alone"
                    ));
                }
                Expr::CompoundIdentifier(parts) if !qualifier_is(parts, table) => {
                    let shown: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                    problem = Some(format!(
                        "{what} `{text}` refers to `{}`, which is not a column of {table}: write the column names of {table} alone (e.g. `{}`)",
                        shown.join("."),
                        column
                    ));
                }
                _ => {}
            }
            if problem.is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        match problem {
            Some(p) => Err(p),
            None => Ok(Self {
                expr,
                column: column.clone(),
            }),
        }
    }

    /// Whether the expression reads names other than the column (other
    /// columns of the row).
    pub fn reads_names_besides_column(&self) -> bool {
        let mut found = false;
        let _ = visit_expressions(&self.expr, |e| {
            if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                && !self.is_reference(e)
            {
                found = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        found
    }

    fn is_reference(&self, e: &Expr) -> bool {
        match e {
            Expr::Identifier(id) => names(id, self.column.as_str()),
            Expr::CompoundIdentifier(parts) => parts
                .last()
                .is_some_and(|last| names(last, self.column.as_str())),
            _ => false,
        }
    }

    /// The expression as SQL, with every reference to the column replaced by
    /// `with` (SQL built from quoted names, parsed here so that it replaces
    /// a whole reference and nothing else), in parentheses.
    pub fn with_column(&self, with: &str) -> Result<String, String> {
        let replacement = parse_expr("a column reference", with, Engine::Postgres)?;
        let mut expr = self.expr.clone();
        let _ = visit_expressions_mut(&mut expr, |e| {
            if self.is_reference(e) {
                *e = replacement.clone();
            }
            ControlFlow::<()>::Continue(())
        });
        Ok(format!("({expr})"))
    }
}

/// Whether a qualified reference's qualifier names `table` (`orders.status`,
/// `public.orders.status`).
fn qualifier_is(parts: &[SqlIdent], table: &QualifiedName) -> bool {
    match parts {
        [t, _] => names(t, table.name.as_str()),
        [s, t, _] => names(t, table.name.as_str()) && names(s, table.schema_or_public()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(raw: &str) -> QualifiedName {
        QualifiedName::parse("table", raw).unwrap()
    }
    fn col(raw: &str) -> Ident {
        Ident::parse("column", raw).unwrap()
    }
    fn rewrite(text: &str, column: &str, with: &str) -> Result<String, String> {
        ColumnExpr::parse("USING", text, &table("orders"), &col(column))?.with_column(with)
    }

    #[test]
    fn only_references_change() {
        // The type name, the longer column name and the literal all hold
        // the text `status`; only the reference moves.
        let out = rewrite(
            "CASE WHEN status = 'status' THEN status_text ELSE status END::order_status",
            "status",
            "r.\"status\"",
        )
        .unwrap();
        assert_eq!(
            out,
            "(CASE WHEN r.\"status\" = 'status' THEN status_text ELSE r.\"status\" END::order_status)"
        );
        let out = rewrite(
            "(price * 100)::integer + price_cents",
            "price",
            "\"price_old\"",
        )
        .unwrap();
        assert_eq!(out, "((\"price_old\" * 100)::INTEGER + price_cents)");
    }

    #[test]
    fn folding_follows_postgres() {
        // Unquoted names fold to lower case; quoted ones are exact.
        assert_eq!(
            rewrite("PRICE + \"price\" + \"Price\"", "price", "x").unwrap(),
            "(x + x + \"Price\")"
        );
        assert_eq!(
            rewrite("Price + \"Price\"", "\"Price\"", "x").unwrap(),
            "(Price + x)"
        );
    }

    #[test]
    fn qualified_references_of_the_table_change() {
        assert_eq!(
            rewrite("orders.status::text || public.orders.status", "status", "y").unwrap(),
            "(y::TEXT || y)"
        );
        let e = rewrite("customers.status::text", "status", "y").unwrap_err();
        assert!(
            e.contains("`customers.status`") && e.contains("not a column of orders"),
            "{e}"
        );
    }

    #[test]
    fn functions_and_types_named_like_the_column_stay() {
        assert_eq!(
            rewrite("status(status)::status", "status", "z").unwrap(),
            "(status(z)::status)"
        );
    }

    #[test]
    fn refuses_what_is_not_one_expression() {
        for bad in [
            "price; DROP TABLE orders",
            "price -- note",
            "(SELECT max(price) FROM orders)",
            "price IN (SELECT 1)",
            "",
        ] {
            assert!(rewrite(bad, "price", "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_other_names() {
        let parse =
            |text: &str| ColumnExpr::parse("USING", text, &table("orders"), &col("price")).unwrap();
        assert!(parse("'price'::text || price_cents").reads_names_besides_column());
        assert!(!parse("(PRICE * 100)::integer + orders.price").reads_names_besides_column());
        assert!(!parse("'1'::integer").reads_names_besides_column());
    }
}
