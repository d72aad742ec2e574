//! Which processes belong to a program, read from `/proc`: its process group's live members.

use std::fs;

/// The fields after `comm` in `/proc/PID/stat`: the command name is in parentheses and may hold
/// spaces and parentheses itself, so split after the last `)`.
fn after_comm(stat: &str) -> Option<&str> {
    stat.rfind(')').map(|i| stat[i + 1..].trim_start())
}

/// State (field 3) and process group (field 5) of a `/proc/PID/stat` line.
fn state_and_group(stat: &str) -> Option<(char, u32)> {
    let mut fields = after_comm(stat)?.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let group = fields.nth(1)?.parse().ok()?;
    Some((state, group))
}

fn live(state: char) -> bool {
    state != 'Z' && state != 'X'
}

/// Whether process `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| state_and_group(&s))
        .is_some_and(|(state, _)| live(state))
}

/// Every live process whose process group is `group`, in pid order. A process that exits
/// while `/proc` is listed is simply not included.
pub fn group_members(group: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid: &u32| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| state_and_group(&s))
                .is_some_and(|(state, g)| g == group && live(state))
        })
        .collect();
    pids.sort_unstable();
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_group_skip_a_tricky_command_name() {
        let stat = "42 (a) b) S 1 77 77 0 -1 4194560";
        assert_eq!(state_and_group(stat), Some(('S', 77)));
        assert_eq!(state_and_group("garbage"), None);
    }

    #[test]
    fn this_process_is_in_its_own_group() {
        let me = std::process::id();
        assert!(is_running(me));
        let group = nix::unistd::getpgrp().as_raw() as u32;
        assert!(group_members(group).contains(&me));
    }
}
