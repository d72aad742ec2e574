//! An incremental `text/event-stream` parser, as the HTML standard's "event stream
//! interpretation" describes it: lines end in CRLF, LF or CR (a CRLF split across reads is one
//! end); `data`, `event`, `id` and `retry` fields; `:` comments; a blank line dispatches.
//!
//! Written here rather than taken from a crate because the subscriber must see where each
//! network read ends (messages per read is a measured figure) and must bound a line's length
//! before it buffers it, as every decoder of wire input in this project does.

use std::time::Duration;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type (`message` when the stream named none).
    pub kind: String,
    /// The data lines joined with LF.
    pub data: String,
    /// The last event ID at dispatch (what a reconnect sends as `Last-Event-ID`).
    pub id: String,
}

/// A line longer than the parser's limit, or an event whose data lines add up to more: a
/// stream that never ends its event must not grow the parser without bound either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong(pub usize);

/// Parser state carried across reads.
#[derive(Debug, Default)]
pub struct Parser {
    max_line: usize,
    line: Vec<u8>,
    /// The previous byte was a CR: a following LF belongs to it.
    after_cr: bool,
    data: String,
    kind: String,
    id_buffer: String,
    /// The last event ID string: set at every blank line, events or not.
    pub last_id: String,
    /// The latest valid `retry:` value.
    pub retry: Option<Duration>,
    /// Blank lines seen (blocks ended), dispatched or not.
    pub blocks: u64,
    /// Comment lines seen (keep-alives).
    pub comments: u64,
}

impl Parser {
    /// A parser refusing lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Parser {
            max_line,
            ..Parser::default()
        }
    }

    /// Parses `chunk`, appending every event it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), LineTooLong> {
        for &b in chunk {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    let line = std::mem::take(&mut self.line);
                    self.process(&String::from_utf8_lossy(&line), out)?;
                }
                _ => {
                    if self.line.len() >= self.max_line {
                        return Err(LineTooLong(self.max_line));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn process(&mut self, line: &str, out: &mut Vec<Event>) -> Result<(), LineTooLong> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line.starts_with(':') {
            self.comments += 1;
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                // The event's data is held until its blank line: bounded like one line.
                if self.data.len() + value.len() + 1 > self.max_line + 1 {
                    return Err(LineTooLong(self.max_line));
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => value.clone_into(&mut self.kind),
            "id" if !value.contains('\0') => value.clone_into(&mut self.id_buffer),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        self.blocks += 1;
        self.last_id.clone_from(&self.id_buffer);
        let kind = std::mem::take(&mut self.kind);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        let kind = if kind.is_empty() {
            "message".into()
        } else {
            kind
        };
        out.push(Event {
            kind,
            data,
            id: self.last_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(stream: &[u8], piece: usize) -> (Vec<Event>, Parser) {
        let mut p = Parser::new(1024);
        let mut out = Vec::new();
        for c in stream.chunks(piece) {
            p.feed(c, &mut out).expect("short lines");
        }
        (out, p)
    }

    #[test]
    fn events_fields_and_line_ends_in_any_split() {
        let stream = b"retry: 250\r\n: keep-alive\n\nid: 7\ndata: a\ndata:b\r\rid: 8\nevent: gone\ndata: 3\n\n";
        for piece in 1..stream.len() {
            let (out, p) = parse_in_pieces(stream, piece);
            assert_eq!(
                out,
                vec![
                    Event {
                        kind: "message".into(),
                        data: "a\nb".into(),
                        id: "7".into()
                    },
                    Event {
                        kind: "gone".into(),
                        data: "3".into(),
                        id: "8".into()
                    },
                ],
                "piece {piece}"
            );
            assert_eq!(p.retry, Some(Duration::from_millis(250)));
            assert_eq!((p.blocks, p.comments), (3, 1));
        }
    }

    #[test]
    fn a_block_without_data_sets_the_id_but_dispatches_nothing() {
        let (out, p) = parse_in_pieces(b"id: 41\nretry: x1\n\n", 4);
        assert!(out.is_empty());
        assert_eq!(p.last_id, "41");
        assert_eq!(p.retry, None, "retry must be digits only");
    }

    #[test]
    fn long_lines_are_refused_before_they_are_buffered() {
        let mut p = Parser::new(8);
        let mut out = Vec::new();
        assert_eq!(p.feed(b"data: 0123456789", &mut out), Err(LineTooLong(8)));
    }

    #[test]
    fn an_event_whose_data_lines_add_up_past_the_limit_is_refused() {
        // Found by the sse_parser fuzz target: each line was bounded, the event was not, so a
        // server that never sent the blank line grew the client without bound.
        let mut p = Parser::new(12);
        let mut out = Vec::new();
        assert_eq!(p.feed(b"data: 012345\ndata: 6789\n", &mut out), Ok(()));
        assert_eq!(p.feed(b"data: x\n", &mut out), Err(LineTooLong(12)));
        assert!(out.is_empty());
        // Within the limit (the joining newline counted) the event still dispatches.
        let mut p = Parser::new(12);
        assert_eq!(p.feed(b"data: 012345\ndata: 6789\n\n", &mut out), Ok(()));
        assert_eq!(out[0].data, "012345\n6789");
    }
}
