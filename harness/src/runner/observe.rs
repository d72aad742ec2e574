//! Who else hears of each message a subscriber's recorder accepts: closed-loop flow control
//! and per-fault accounting observe arrivals as the recorder audits them, instead of decoding
//! every message again.

use transport_core::Envelope;

use super::audit::Arrival;

/// Told of every message a recorder accepted for its subscriber (well-formed, of its topic),
/// in arrival order, as it is audited; duplicates included, marked as such.
pub trait Observe {
    /// `env` arrived, and the audit judged it `arrival`.
    fn arrived(&mut self, env: &Envelope, arrival: Arrival);
    /// The delivery unit is done.
    fn unit_done(&mut self) {}
}

/// No one to tell.
impl Observe for () {
    fn arrived(&mut self, _: &Envelope, _: Arrival) {}
}

/// Both, in order.
impl<A: Observe, B: Observe> Observe for (A, B) {
    fn arrived(&mut self, env: &Envelope, arrival: Arrival) {
        self.0.arrived(env, arrival);
        self.1.arrived(env, arrival);
    }

    fn unit_done(&mut self) {
        self.0.unit_done();
        self.1.unit_done();
    }
}
