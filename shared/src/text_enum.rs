//! `text_enum!`: a closed set of states stored as a checked `TEXT` column, sent as the same
//! string in JSON and on the bus, and matched as a Rust enum everywhere in between. One
//! declaration gives the enum its strings (`as_str`, `parse`, `ALL`, `expected`), `Display`,
//! serde as that string, and diesel `ToSql`/`FromSql` for `Text` — so no role spells a state as
//! a literal, and a value the database holds that the code does not know is an error at load, not
//! a silent fallback.
//!
//! The migration that creates the column carries the same list in a `CHECK`; the test
//! `db_checks_match` (in the e2e suite's migrations test) compares the two.

/// Declares a text-backed enum. Each variant is written `Variant => "stored_text"`.
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$( Self::$variant ),+];

            /// As stored, sent and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text ),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $( $text => Some(Self::$variant), )+
                    _ => None,
                }
            }

            /// The accepted spellings, for an error message: `"a", "b" or "c"`.
            pub fn expected() -> String {
                $crate::text_enum::expected_list(&[$( $text ),+])
            }
        }

        impl $crate::text_enum::TextEnum for $name {
            fn from_text(s: &str) -> Option<Self> {
                Self::parse(s)
            }
            fn expected() -> String {
                Self::expected()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::text_enum::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| $crate::text_enum::UnknownValue {
                    what: stringify!($name),
                    value: s.chars().take(64).collect(),
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format_args!("expected {}", Self::expected()))
                })
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let s = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(bytes)?;
                Ok(s.parse::<Self>()?)
            }
        }
    };
}

/// What every `text_enum!` type offers generically (e.g. to validate input into any of them).
pub trait TextEnum: Sized + Copy {
    fn from_text(s: &str) -> Option<Self>;
    /// The accepted spellings, for an error message.
    fn expected() -> String;
}

/// A stored or sent value outside an enum's set.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} value {value:?}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

#[doc(hidden)]
pub fn expected_list(texts: &[&str]) -> String {
    let quoted: Vec<String> = texts.iter().map(|t| format!("\"{t}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        enum Colour {
            Red => "red",
            DarkBlue => "dark_blue",
        }
    }

    #[test]
    fn strings_round_trip_through_every_form() {
        for c in Colour::ALL {
            assert_eq!(Colour::parse(c.as_str()), Some(*c));
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<Colour>(&json).unwrap(), *c);
        }
        assert_eq!(Colour::parse("Red"), None);
        assert_eq!(Colour::expected(), "\"red\" or \"dark_blue\"");
        let err = serde_json::from_str::<Colour>("\"green\"").unwrap_err();
        assert!(err.to_string().contains("expected \"red\" or \"dark_blue\""), "{err}");
        assert!("green".parse::<Colour>().is_err());
    }
}
