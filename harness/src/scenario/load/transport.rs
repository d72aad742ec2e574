//! Checks one `[transport.<name>]` table with that transport's own config type, generically, so
//! no concrete transport is named outside the registry.

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};
use transport_core::Transport;

use super::Located;
use crate::registry::Visit;

/// Deserializes the table as `T::Config` (unknown keys rejected by the type) and runs
/// `T::validate`. The value keeps its spans, so errors point at the offending key or value.
pub(super) struct CheckConfig<'i> {
    /// The table's value as parsed from the document.
    pub value: Spanned<DeValue<'i>>,
}

impl Visit for CheckConfig<'_> {
    type Output = Result<(), Located>;

    fn visit<T: Transport>(self) -> Self::Output {
        let span = self.value.span();
        let config = T::Config::deserialize(ValueDeserializer::from(self.value)).map_err(|e| {
            let mut located = Located::from_toml(e);
            located.message = format!("[transport.{}]: {}", T::NAME, located.message);
            located
        })?;
        T::validate(&config)
            .map_err(|message| Located::at(span, format!("[transport.{}]: {message}", T::NAME)))
    }
}
