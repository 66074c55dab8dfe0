//! What a type change's conversion is: the SQL that turns an old value into
//! a new one (a USING expression, rewritten on its parse tree, or a cast),
//! whether the way back is exact, and which old values a narrowing cast
//! would silently cut (the gate that counts them before anything is
//! written, and the comparison that would see the cut afterwards).

use crate::engine::postgres::normalise_type;
use crate::ident::{Ident, QualifiedName};
use crate::plan::colref::ColumnExpr;

/// The conversion of one column from its old type to `to_type`.
pub(super) struct Conversion {
    using: Option<ColumnExpr>,
    from: Option<String>,
    to: String,
}

/// A base type and its arguments, normalised: `numeric(12,2)` ->
/// (`numeric`, [12, 2]).
fn split(ty: &str) -> (String, Vec<i64>) {
    let norm = normalise_type(ty);
    match (norm.find('('), norm.strip_suffix(')')) {
        (Some(i), Some(inner)) => (
            norm[..i].trim().to_string(),
            inner[i + 1..]
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect(),
        ),
        _ => (norm, Vec::new()),
    }
}

/// Integer types and the range of values they hold.
fn int_range(base: &str) -> Option<(i128, i128)> {
    match base {
        "smallint" => Some((i16::MIN.into(), i16::MAX.into())),
        "integer" => Some((i32::MIN.into(), i32::MAX.into())),
        "bigint" => Some((i64::MIN.into(), i64::MAX.into())),
        _ => None,
    }
}

/// Decimal digits before the point an integer type can need.
fn int_digits(base: &str) -> Option<i64> {
    match base {
        "smallint" => Some(5),
        "integer" => Some(10),
        "bigint" => Some(19),
        _ => None,
    }
}

fn is_text(base: &str) -> bool {
    matches!(base, "text" | "varchar" | "char")
}

impl Conversion {
    pub(super) fn new(
        table: &QualifiedName,
        column: &Ident,
        from: Option<&str>,
        to: &str,
        using: Option<&str>,
    ) -> Result<Self, String> {
        let using = match using {
            Some(u) => Some(ColumnExpr::parse("the USING expression", u, table, column)?),
            None => None,
        };
        Ok(Self {
            using,
            from: from.map(str::to_string),
            to: to.to_string(),
        })
    }

    /// The new value, computed from a row whose column is `source` (SQL:
    /// a quoted name or `r."col"`).
    pub(super) fn to_new(&self, source: &str) -> Result<String, String> {
        match &self.using {
            Some(u) => u.with_column(source),
            None => Ok(format!("{source}::{}", self.to)),
        }
    }

    /// The old value from a new one at `source`, only for the pairs whose
    /// round trip is exact for every value the old type holds (see
    /// [`Self::invertible`]).
    pub(super) fn to_old(&self, source: &str) -> Option<String> {
        if !self.invertible() {
            return None;
        }
        self.from.as_ref().map(|f| format!("{source}::{f}"))
    }

    /// Whether old -> new -> old gives back every value of the old type
    /// exactly, and new values the old type cannot hold fail the cast back
    /// (which the sync turns into NULL) instead of changing. Deliberately a
    /// short list: any USING, and every cast not on it, keeps the old column
    /// authoritative and switches by release instead.
    pub(super) fn invertible(&self) -> bool {
        if self.using.is_some() {
            return false;
        }
        let Some(from) = &self.from else {
            return false;
        };
        let ((f, fa), (t, ta)) = (split(from), split(&self.to));
        if !fa.is_empty() || !ta.is_empty() {
            return false;
        }
        matches!(
            (f.as_str(), t.as_str()),
            ("smallint", "integer") | ("smallint", "bigint") | ("integer", "bigint")
        )
    }

    /// Whether a USING expression reads names other than the column (then
    /// a default converted through it would not be a valid default).
    pub(super) fn converts_constant(&self, default: &str) -> Option<String> {
        match &self.using {
            Some(u) if u.reads_names_besides_column() => None,
            _ => self.to_new(&format!("({default})")).ok(),
        }
    }

    /// For a cast that narrows, the condition (over the old column `c`, as
    /// SQL) that is true for a value the cast would cut, round or refuse,
    /// and what it means. None when the change does not narrow, when the
    /// old type is unknown, or with a USING (the user chose the values).
    pub(super) fn narrowing(&self, c: &str) -> Option<(String, String)> {
        if self.using.is_some() {
            return None;
        }
        let from = self.from.as_ref()?;
        let ((f, fa), (t, ta)) = (split(from), split(&self.to));
        match (t.as_str(), ta.as_slice()) {
            ("varchar" | "char", [m]) => {
                let widening = is_text(&f) && matches!(fa.as_slice(), [n] if n <= m);
                (!widening).then(|| {
                    (
                        format!("char_length({c}::text) > {m}"),
                        format!("values longer than {m} characters, which a cast to {} cuts without an error", self.to),
                    )
                })
            }
            (ti, []) if int_range(ti).is_some() => {
                let (lo, hi) = int_range(ti)?;
                if let Some((flo, fhi)) = int_range(&f) {
                    return (flo < lo || fhi > hi).then(|| {
                        (
                            format!("{c} NOT BETWEEN {lo} AND {hi}"),
                            format!("values outside the range of {}", self.to),
                        )
                    });
                }
                matches!(f.as_str(), "numeric" | "real" | "double precision").then(|| {
                    (
                        format!("({c} <> round({c}) OR {c} NOT BETWEEN {lo} AND {hi})"),
                        format!("values with a fraction (the cast to {} rounds them without an error) or outside its range", self.to),
                    )
                })
            }
            ("numeric", [p, rest @ ..]) => {
                let s = rest.first().copied().unwrap_or(0);
                let fits = match (f.as_str(), fa.as_slice()) {
                    ("numeric", [fp, frest @ ..]) => {
                        let fs = frest.first().copied().unwrap_or(0);
                        fs <= s && fp - fs <= p - s
                    }
                    (fi, []) => int_digits(fi).is_some_and(|d| d <= p - s),
                    _ => false,
                };
                let number = matches!(f.as_str(), "numeric" | "real" | "double precision")
                    || int_range(&f).is_some();
                (!fits && number).then(|| {
                    let n = format!("{c}::numeric");
                    (
                        format!("({n} <> 'NaN' AND ({n} <> round({n}, {s}) OR abs(round({n}, {s})) >= 1e{}))", p - s),
                        format!("values with more than {s} decimal places (the cast rounds them without an error) or {} or more digits before the point", p - s + 1),
                    )
                })
            }
            ("date", []) if matches!(f.as_str(), "timestamp" | "timestamptz") => Some((
                format!("({c}::date)::{from} <> {c}"),
                "values with a time of day, which the cast to date drops without an error (timestamptz: in the session's TimeZone)".into(),
            )),
            ("timestamp" | "timestamptz", [_]) if matches!(f.as_str(), "timestamp" | "timestamptz") && f == t => {
                let narrows = match fa.as_slice() {
                    [fp] => fp > &ta[0],
                    _ => true,
                };
                narrows.then(|| {
                    (
                        format!("({c}::{})::{from} <> {c}", self.to),
                        format!("values with more fractional-second digits than {} keeps (the cast rounds them)", self.to),
                    )
                })
            }
            _ => None,
        }
    }

    /// A condition over the old column `old` and the new one `new` that is
    /// true where the new value lost something: for a narrowing cast, the
    /// new value cast back to the old type differs from the old value (the
    /// same truncating cast on both sides would hide the cut); otherwise the
    /// new value differs from the conversion of the old one.
    pub(super) fn differs(&self, old: &str, new: &str) -> Result<String, String> {
        match (&self.from, self.narrowing(old)) {
            (Some(from), Some(_)) => Ok(format!("{old} IS DISTINCT FROM {new}::{from}")),
            _ => Ok(format!("{new} IS DISTINCT FROM {}", self.to_new(old)?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(from: Option<&str>, to: &str, using: Option<&str>) -> Conversion {
        Conversion::new(
            &QualifiedName::parse("t", "orders").unwrap(),
            &Ident::parse("c", "status").unwrap(),
            from,
            to,
            using,
        )
        .unwrap()
    }

    #[test]
    fn only_integer_widening_is_invertible() {
        assert!(conv(Some("integer"), "bigint", None).invertible());
        assert!(conv(Some("int2"), "int8", None).invertible());
        for (from, to, using) in [
            (Some("integer"), "bigint", Some("status::bigint")),
            (None, "bigint", None),
            (Some("bigint"), "integer", None),
            (Some("text"), "order_status", None),
            (Some("integer"), "numeric", None),
            (Some("numeric"), "integer", None),
            (Some("varchar(10)"), "text", None),
        ] {
            assert!(!conv(from, to, using).invertible(), "{from:?} -> {to}");
        }
        assert_eq!(
            conv(Some("integer"), "bigint", None).to_old("x").unwrap(),
            "x::integer"
        );
        assert_eq!(conv(Some("text"), "order_status", None).to_old("x"), None);
    }

    #[test]
    fn cast_target_is_never_rewritten() {
        let c = conv(Some("text"), "order_status", None);
        assert_eq!(
            c.to_new("r.\"status\"").unwrap(),
            "r.\"status\"::order_status"
        );
        let c = conv(None, "order_status", Some("status::order_status"));
        assert_eq!(
            c.to_new("r.\"status\"").unwrap(),
            "(r.\"status\"::order_status)"
        );
    }

    #[test]
    fn narrowing_is_found() {
        let gate = |from: &str, to: &str| conv(Some(from), to, None).narrowing("c").map(|g| g.0);
        assert_eq!(
            gate("text", "varchar(100)").unwrap(),
            "char_length(c::text) > 100"
        );
        assert_eq!(
            gate("varchar(200)", "varchar(100)").unwrap(),
            "char_length(c::text) > 100"
        );
        assert_eq!(gate("varchar(50)", "varchar(100)"), None);
        assert_eq!(
            gate("bigint", "integer").unwrap(),
            "c NOT BETWEEN -2147483648 AND 2147483647"
        );
        assert_eq!(
            gate("integer", "smallint").unwrap(),
            "c NOT BETWEEN -32768 AND 32767"
        );
        assert_eq!(gate("integer", "bigint"), None);
        assert!(gate("numeric(12,4)", "numeric(12,2)")
            .unwrap()
            .contains("round(c::numeric, 2)"));
        assert!(gate("numeric(12,2)", "numeric(8,2)")
            .unwrap()
            .contains(">= 1e6"));
        assert!(gate("numeric", "numeric(8,2)").is_some());
        assert_eq!(gate("numeric(8,2)", "numeric(12,3)"), None);
        assert!(gate("integer", "numeric(6,2)").is_some());
        assert_eq!(gate("integer", "numeric(12,2)"), None);
        assert!(gate("numeric(10,2)", "integer")
            .unwrap()
            .contains("round(c)"));
        assert_eq!(
            gate("timestamptz", "date").unwrap(),
            "(c::date)::timestamptz <> c"
        );
        assert_eq!(
            gate("timestamp without time zone", "date").unwrap(),
            "(c::date)::timestamp without time zone <> c"
        );
        assert!(gate("timestamptz", "timestamptz(0)").is_some());
        assert_eq!(gate("text", "order_status"), None);
        assert_eq!(
            conv(Some("text"), "varchar(5)", Some("left(status, 5)")).narrowing("c"),
            None
        );
    }

    #[test]
    fn loss_is_compared_through_the_old_type() {
        let c = conv(Some("text"), "varchar(100)", None);
        assert_eq!(
            c.differs("bio", "bio_new").unwrap(),
            "bio IS DISTINCT FROM bio_new::text"
        );
        let c = conv(Some("text"), "order_status", None);
        assert_eq!(
            c.differs("status", "status_new").unwrap(),
            "status_new IS DISTINCT FROM status::order_status"
        );
    }
}
