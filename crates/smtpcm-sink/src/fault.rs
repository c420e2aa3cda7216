//! Scripted misbehaviour: which stage goes wrong, how, and how often.
//!
//! A [`Fault`] replaces what the server would normally do at a [`FaultStage`]. Counts in
//! [`FaultRule::times`] are shared by all connections of one sink, so "fail the first two
//! attempts, then succeed" can be scripted for retry tests.

use std::sync::{Mutex, PoisonError};

/// The protocol point at which a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultStage {
    /// Right after the TCP accept, before any TLS handshake or greeting. `Reply` is sent in
    /// plaintext and the connection closed; `InjectAfterStartTls` bytes are sent before the greeting.
    Connect,
    /// The `220` greeting. `Reply` replaces it; after a non-2xx greeting every command but QUIT
    /// gets `503` (RFC 5321 §3.1).
    Greeting,
    /// The reply to EHLO or HELO.
    Ehlo,
    /// The `220` reply to STARTTLS. `InjectAfterStartTls` sends `220 2.0.0 Ready\r\n` and the
    /// bytes in one write, then starts the handshake (the CVE-2011-0411 "STARTTLS injection").
    StartTls,
    /// The reply to the AUTH command, before any challenge.
    Auth,
    /// The reply to MAIL FROM.
    Mail,
    /// The reply to each RCPT TO (every RCPT counts as one occurrence).
    Rcpt,
    /// The `354` reply to DATA, or the first BDAT chunk of a transaction (whose bytes are still
    /// read and discarded before a `Reply`).
    DataStart,
    /// After `after_bytes` bytes of message content have arrived (as sent on the wire, counted
    /// from the first byte after `354` or across all BDAT chunks). `Reply` is sent at once and
    /// the connection closed, as a server aborting mid-transfer would (input is still drained
    /// for a moment so the reply survives). `Disconnect`, `Reset` and `Stall` stop reading at
    /// once, so a client still writing the body sees its write fail or block: these exercise
    /// the client's writing path, not the wait for the reply after the final dot.
    MidData {
        /// Bytes of message content received before the fault fires.
        after_bytes: u64,
    },
    /// After the final dot (or last BDAT chunk), before the reply. The message is not captured.
    AfterDot,
}

/// What happens instead of the normal behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Send this reply instead (for example `451` with `"4.3.0 Try later"`). The text should start
    /// with an enhanced status code if the client is meant to see one. A `421` also closes the
    /// connection.
    Reply(u16, String),
    /// Close the connection without replying (pending pipelined replies are flushed first, then
    /// a FIN is sent). Nothing more is read: input still arriving makes the kernel answer with
    /// a reset, so a client in the middle of writing sees `EPIPE`/`ECONNRESET`.
    Disconnect,
    /// Reset the connection: pending pipelined replies are flushed, then an abortive close
    /// (`SO_LINGER` 0) sends a TCP RST instead of a FIN, and nothing more is read. At
    /// [`FaultStage::MidData`] the client's next write of the body fails with
    /// `ECONNRESET`/`EPIPE`, as when a server process dies mid-transfer.
    Reset,
    /// Never answer: input is read and thrown away until the client leaves, the idle timeout,
    /// or shutdown. At [`FaultStage::MidData`] input is not read at all, so a client still
    /// writing the body blocks in its write until its own timeout.
    Stall,
    /// Behave normally, but send these bytes right after the normal reply in the same write.
    /// Meant for [`FaultStage::StartTls`], where the bytes land in the client's buffer before
    /// the TLS handshake.
    InjectAfterStartTls(Vec<u8>),
}

/// One scripted fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Where it fires.
    pub stage: FaultStage,
    /// What happens.
    pub fault: Fault,
    /// `None`: every time. `Some(n)`: the first `n` occurrences across all connections, then the
    /// stage behaves normally again.
    pub times: Option<u32>,
}

/// An ordered list of fault rules; at each stage the first rule that still has occurrences
/// left wins.
///
/// ```
/// use smtpcm_sink::{Fault, FaultScript, FaultStage};
///
/// let script = FaultScript::new()
///     .times(FaultStage::Rcpt, Fault::Reply(451, "4.3.0 Try again later".into()), 2)
///     .always(FaultStage::MidData { after_bytes: 1024 }, Fault::Disconnect);
/// assert_eq!(script.rules.len(), 2);
/// assert_eq!(script.rules[0].times, Some(2));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultScript {
    /// The rules, in priority order.
    pub rules: Vec<FaultRule>,
}

impl FaultScript {
    /// An empty script: the server behaves normally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule that fires every time the stage is reached.
    pub fn always(self, stage: FaultStage, fault: Fault) -> Self {
        self.rule(FaultRule {
            stage,
            fault,
            times: None,
        })
    }

    /// Adds a rule that fires for the first `n` occurrences of the stage, across connections.
    pub fn times(self, stage: FaultStage, fault: Fault, n: u32) -> Self {
        self.rule(FaultRule {
            stage,
            fault,
            times: Some(n),
        })
    }

    /// Adds a prepared rule.
    pub fn rule(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }
}

/// The live script of a running sink: rules plus how many occurrences each has left.
#[derive(Debug)]
pub(crate) struct FaultState {
    rules: Vec<FaultRule>,
    remaining: Mutex<Vec<Option<u32>>>,
}

/// A `MidData` rule chosen at the start of a transfer; it fires only if it still has
/// occurrences left when the byte count is reached.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArmedMidData {
    rule: usize,
    pub(crate) after_bytes: u64,
}

impl FaultState {
    pub(crate) fn new(script: &FaultScript) -> Self {
        Self {
            remaining: Mutex::new(script.rules.iter().map(|r| r.times).collect()),
            rules: script.rules.clone(),
        }
    }

    /// The fault for `stage`, if any, counting it as one occurrence.
    pub(crate) fn take(&self, stage: FaultStage) -> Option<Fault> {
        let mut remaining = self
            .remaining
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let index = self
            .rules
            .iter()
            .zip(remaining.iter())
            .position(|(rule, left)| rule.stage == stage && *left != Some(0))?;
        consume(&mut remaining[index]);
        Some(self.rules[index].fault.clone())
    }

    /// The first `MidData` rule with occurrences left, without counting it yet.
    pub(crate) fn arm_mid_data(&self) -> Option<ArmedMidData> {
        let remaining = self
            .remaining
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.rules
            .iter()
            .zip(remaining.iter())
            .enumerate()
            .find_map(|(rule, (r, left))| match r.stage {
                FaultStage::MidData { after_bytes } if *left != Some(0) => {
                    Some(ArmedMidData { rule, after_bytes })
                }
                _ => None,
            })
    }

    /// Fires an armed rule, unless other connections used up its occurrences meanwhile.
    pub(crate) fn fire(&self, armed: ArmedMidData) -> Option<Fault> {
        let mut remaining = self
            .remaining
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let left = remaining.get_mut(armed.rule)?;
        if *left == Some(0) {
            return None;
        }
        consume(left);
        self.rules.get(armed.rule).map(|r| r.fault.clone())
    }
}

fn consume(left: &mut Option<u32>) {
    if let Some(n) = left {
        *n = n.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_run_out_and_the_next_rule_takes_over() {
        let script = FaultScript::new()
            .times(FaultStage::Mail, Fault::Disconnect, 2)
            .always(FaultStage::Mail, Fault::Stall);
        let state = FaultState::new(&script);
        assert_eq!(state.take(FaultStage::Mail), Some(Fault::Disconnect));
        assert_eq!(state.take(FaultStage::Rcpt), None);
        assert_eq!(state.take(FaultStage::Mail), Some(Fault::Disconnect));
        assert_eq!(state.take(FaultStage::Mail), Some(Fault::Stall));
        assert_eq!(state.take(FaultStage::Mail), Some(Fault::Stall));
    }

    #[test]
    fn mid_data_is_armed_without_counting_and_fires_once() {
        let script =
            FaultScript::new().times(FaultStage::MidData { after_bytes: 7 }, Fault::Disconnect, 1);
        let state = FaultState::new(&script);
        let armed = state.arm_mid_data().expect("rule armed");
        assert_eq!(armed.after_bytes, 7);
        assert!(state.arm_mid_data().is_some(), "arming must not count");
        assert_eq!(state.fire(armed), Some(Fault::Disconnect));
        assert_eq!(state.fire(armed), None);
        assert!(state.arm_mid_data().is_none());
    }

    #[test]
    fn mid_data_stage_is_not_taken_as_a_plain_stage_with_other_byte_count() {
        let script =
            FaultScript::new().always(FaultStage::MidData { after_bytes: 3 }, Fault::Stall);
        let state = FaultState::new(&script);
        assert_eq!(state.take(FaultStage::MidData { after_bytes: 4 }), None);
    }
}
