//! Colours and fonts: one colour per transport, the same in every chart, and the embedded font
//! registered once so text renders without fontconfig or freetype.

use std::sync::OnceLock;

use plotters::style::{FontStyle, RGBColor, register_font};

use crate::registry::TransportKind;

/// The family every chart asks for; [`register_fonts`] binds it to the embedded DejaVu Sans.
pub const FAMILY: &str = "sans-serif";

/// Colours for transports without a fixed one, chosen by a stable hash of the name.
const SPARE: [RGBColor; 6] = [
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(214, 39, 40),
];

/// The colour of the transport named `transport` (chart data carries names): fixed for the
/// registered ones so that every chart and every run agree.
pub fn colour(transport: &str) -> RGBColor {
    match TransportKind::from_name(transport) {
        Some(kind) => kind_colour(kind),
        None => {
            let hash = transport.bytes().fold(0usize, |h, b| {
                h.wrapping_mul(31).wrapping_add(usize::from(b))
            });
            SPARE[hash % SPARE.len()]
        }
    }
}

/// A registered transport's fixed colour.
pub fn kind_colour(kind: TransportKind) -> RGBColor {
    match kind {
        TransportKind::RawTcp => RGBColor(85, 85, 85),
        TransportKind::LongPoll => RGBColor(230, 120, 20),
        TransportKind::WebSocket => RGBColor(31, 119, 180),
        TransportKind::PullLog => RGBColor(44, 160, 44),
        TransportKind::Sse => RGBColor(148, 103, 189),
        // Nchan: a darker shade of the same pattern's colour, so "ours vs Nchan" pairs read.
        TransportKind::NchanLongPoll => RGBColor(150, 75, 10),
        TransportKind::NchanSse => RGBColor(90, 55, 125),
        TransportKind::NchanWebSocket => RGBColor(15, 70, 115),
        // Brokers: Redis reds (push darker, pull lighter), MQTT teal.
        TransportKind::RedisPubsub => RGBColor(180, 30, 40),
        TransportKind::RedisStreams => RGBColor(230, 110, 110),
        TransportKind::Mqtt => RGBColor(20, 150, 140),
        // NATS: one hue (teal), darker for push, lighter for pull.
        TransportKind::NatsCore => RGBColor(23, 190, 207),
        TransportKind::NatsPush => RGBColor(16, 130, 140),
        TransportKind::NatsPull => RGBColor(120, 215, 225),
    }
}

/// Shade `i` of `c`: 0 is the colour itself, each further shade is lighter (stacked segments).
pub fn shade(c: RGBColor, i: usize) -> RGBColor {
    let mix = (0.45 * i as f64).min(0.8);
    let lighten = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * mix).round() as u8;
    RGBColor(lighten(c.0), lighten(c.1), lighten(c.2))
}

/// Registers DejaVu Sans (regular and bold) as [`FAMILY`]; idempotent and thread-safe. Must run
/// before any text is drawn: without it plotters' `ab_glyph` backend has no font at all.
pub fn register_fonts() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular())
            .and_then(|()| register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold()))
            .map_err(|_| "the embedded DejaVu Sans font could not be parsed".to_owned())
    })
    .clone()
    .map_err(anyhow::Error::msg)
}
