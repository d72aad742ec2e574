//! `list`: every registered transport with its options, defaults and allowed values.

use transport_core::Transport;

use crate::registry::{TransportKind, Visit};

struct Describe;

impl Visit for Describe {
    type Output = String;
    fn visit<T: Transport>(self) -> String {
        let mut out = format!("{}\n    guarantee: {}\n", T::NAME, T::guarantee());
        let opts = T::options();
        if opts.is_empty() {
            out.push_str("    (no options)\n");
        }
        for o in opts {
            out.push_str(&format!(
                "    {:<26} default {:<14} {}\n",
                o.key, o.default, o.help
            ));
        }
        out
    }
}

/// Prints the transports and their `[transport.<name>]` options.
pub fn print() {
    println!("Transports (options go in a scenario's [transport.<name>] table):\n");
    println!(
        "A list where an option takes one value sweeps it: `batch = [1, 10, 100]` runs the \
         transport once per value, tagged batch=<value>.\n"
    );
    for &k in TransportKind::ALL {
        println!("{}", k.visit(Describe));
    }
}
