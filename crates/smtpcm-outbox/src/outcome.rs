//! What a delivery attempt means for a message: the one place outcomes are decided, and
//! the retry delay.

use std::time::Duration;

use smtpcm_engine::SendError;
use smtpcm_engine::smtp::{ErrorKind, SendReport, SmtpError};

use crate::model::{Claimed, Completion, RecipientState, Settings, State, UnknownPolicy};
use crate::worker::WorkerConfig;

/// The delay before attempt `attempts + 1`: `initial * 2^(attempts-1)`, capped at `max`,
/// then a random point in its upper half ("equal jitter"), so workers that failed together
/// do not all come back at the same instant.
///
/// ```
/// use std::time::Duration;
/// let d = smtpcm_outbox::outcome::backoff(3, Duration::from_secs(10), Duration::from_secs(3600));
/// assert!(d >= Duration::from_secs(20) && d <= Duration::from_secs(40));
/// ```
pub fn backoff(attempts: i32, initial: Duration, max: Duration) -> Duration {
    let shift = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let full = initial.saturating_mul(1u32 << shift).min(max);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

/// What an attempt's result means for the message: the one place outcomes are decided.
pub fn decide(
    msg: &Claimed,
    result: std::result::Result<&SendReport, &SendError>,
    now: i64,
    settings: &Settings,
    cfg: &WorkerConfig,
) -> Completion {
    let mut recipients = Vec::new();
    let (accepted, mut deferred) = (msg.accepted_before, false);
    let mut record = |addr: &str, st: RecipientState, reply: Option<String>| {
        if let Some(r) = msg
            .pending
            .iter()
            .find(|r| r.address.eq_ignore_ascii_case(addr))
        {
            recipients.push((r.seq, st, reply));
        }
    };
    let retry_at = now + backoff(msg.attempts, cfg.retry_initial, cfg.retry_max).as_millis() as i64;
    let (state, next, last_error, unknown) = match result {
        Ok(report) => {
            for a in &report.accepted {
                record(a, RecipientState::Accepted, Some(report.reply.to_string()));
            }
            let mut refusals = Vec::new();
            for r in &report.rejected {
                let st = if r.reply.is_transient() {
                    deferred = true;
                    RecipientState::Pending
                } else {
                    RecipientState::Rejected
                };
                record(&r.recipient, st, Some(r.reply.to_string()));
                refusals.push(format!("{}: {}", r.recipient, r.reply));
            }
            let err = (!refusals.is_empty()).then(|| refusals.join("; "));
            if deferred {
                (State::Queued, retry_at, err, false)
            } else {
                (State::Sent, now, err, false)
            }
        }
        Err(e) => {
            let smtp = match e {
                SendError::Smtp(s) => Some(s),
                _ => None,
            };
            let text = e.to_string();
            if let Some(s) = smtp
                && let ErrorKind::AllRecipientsRejected(all) = s.kind()
            {
                for r in all {
                    let st = if r.reply.is_transient() {
                        deferred = true;
                        RecipientState::Pending
                    } else {
                        RecipientState::Rejected
                    };
                    record(&r.recipient, st, Some(r.reply.to_string()));
                }
                if deferred {
                    (State::Queued, retry_at, Some(text), false)
                } else if accepted {
                    (State::Sent, now, Some(text), false)
                } else {
                    (State::Failed, now, Some(text), false)
                }
            } else if smtp.is_some_and(SmtpError::is_delivery_unknown) {
                match settings.unknown_policy {
                    UnknownPolicy::Hold => (State::Unknown, now, Some(text), true),
                    UnknownPolicy::Resend => (State::Queued, now, Some(text), true),
                }
            } else if e.is_retryable() {
                (State::Queued, retry_at, Some(text), false)
            } else {
                (State::Failed, now, Some(text), false)
            }
        }
    };
    // A message that would wait past its maximum age expires now (Postfix bounces it).
    let deadline = msg.created_at + settings.max_age.as_millis() as i64;
    if state == State::Queued && !unknown && next > deadline {
        return Completion {
            state: State::Expired,
            next_attempt_at: next,
            recipients,
            last_error: Some(format!(
                "expired: not delivered within the maximum age; last error: {}",
                last_error.unwrap_or_default()
            )),
            unknown,
        };
    }
    Completion {
        state,
        next_attempt_at: next,
        recipients,
        last_error,
        unknown,
    }
}

#[cfg(test)]
mod tests {
    use smtpcm_engine::smtp::{RecipientRejection, Reply, Stage};

    use super::*;
    use crate::model::Recipient;

    fn claimed(rcpts: &[&str], accepted_before: bool) -> Claimed {
        Claimed {
            id: 1,
            message_id: "<m@x>".into(),
            route: "r".into(),
            sender: "a@x".into(),
            size: 10,
            eight_bit: false,
            smtputf8: false,
            attempts: 1,
            created_at: 0,
            pending: rcpts
                .iter()
                .enumerate()
                .map(|(i, a)| Recipient {
                    seq: i as i32,
                    address: a.to_string(),
                    state: RecipientState::Pending,
                    reply: None,
                })
                .collect(),
            accepted_before,
            ready: None,
            dsn: Default::default(),
        }
    }

    fn reply(code: u16) -> Reply {
        Reply::new(code, None, vec!["text".into()])
    }

    fn rejection(r: &str, code: u16) -> RecipientRejection {
        RecipientRejection {
            recipient: r.into(),
            reply: reply(code),
        }
    }

    fn settings(policy: UnknownPolicy) -> Settings {
        Settings {
            unknown_policy: policy,
            ..Settings::default()
        }
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn a_partial_send_records_each_recipient_and_retries_only_the_deferred() {
        let report = SendReport {
            accepted: vec!["B@x".into()],
            rejected: vec![rejection("c@x", 550), rejection("d@x", 451)],
            reply: reply(250),
            bytes: 10,
        };
        let c = decide(
            &claimed(&["b@x", "c@x", "d@x"], false),
            Ok(&report),
            NOW,
            &settings(UnknownPolicy::Hold),
            &WorkerConfig::default(),
        );
        assert_eq!(c.state, State::Queued);
        assert!(c.next_attempt_at > NOW);
        let states: Vec<_> = c.recipients.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            states,
            [
                (0, RecipientState::Accepted),
                (1, RecipientState::Rejected),
                (2, RecipientState::Pending)
            ]
        );
        assert!(c.last_error.unwrap().contains("c@x: 550"));
    }

    #[test]
    fn every_recipient_refused_fails_unless_one_was_accepted_before() {
        let err = || {
            Err(SendError::Smtp(SmtpError::new(
                Stage::Rcpt,
                ErrorKind::AllRecipientsRejected(vec![rejection("c@x", 550)]),
            )))
        };
        let cfg = WorkerConfig::default();
        let s = settings(UnknownPolicy::Hold);
        assert_eq!(
            decide(&claimed(&["c@x"], false), err().as_ref(), NOW, &s, &cfg).state,
            State::Failed
        );
        assert_eq!(
            decide(&claimed(&["c@x"], true), err().as_ref(), NOW, &s, &cfg).state,
            State::Sent
        );
    }

    #[test]
    fn the_unknown_window_follows_the_policy_and_is_counted() {
        let err = || {
            Err(SendError::Smtp(SmtpError::new(
                Stage::DataEnd,
                ErrorKind::DeliveryUnknown,
            )))
        };
        let cfg = WorkerConfig::default();
        let m = claimed(&["b@x"], false);
        let hold = decide(
            &m,
            err().as_ref(),
            NOW,
            &settings(UnknownPolicy::Hold),
            &cfg,
        );
        assert_eq!((hold.state, hold.unknown), (State::Unknown, true));
        let resend = decide(
            &m,
            err().as_ref(),
            NOW,
            &settings(UnknownPolicy::Resend),
            &cfg,
        );
        assert_eq!((resend.state, resend.unknown), (State::Queued, true));
        assert_eq!(resend.next_attempt_at, NOW);
    }

    #[test]
    fn transient_failures_back_off_and_permanent_ones_fail() {
        let cfg = WorkerConfig::default();
        let s = settings(UnknownPolicy::Hold);
        let m = claimed(&["b@x"], false);
        let lost = Err(SendError::Smtp(SmtpError::new(
            Stage::DataTransfer,
            ErrorKind::Io(std::io::ErrorKind::ConnectionReset.into()),
        )));
        let c = decide(&m, lost.as_ref(), NOW, &s, &cfg);
        assert_eq!(c.state, State::Queued);
        assert!(c.next_attempt_at >= NOW + 30_000, "at least half of 60 s");
        let busy = Err(SendError::Smtp(SmtpError::rejected(
            Stage::Mail,
            "MAIL",
            reply(451),
        )));
        assert_eq!(
            decide(&m, busy.as_ref(), NOW, &s, &cfg).state,
            State::Queued
        );
        let refused = Err(SendError::Smtp(SmtpError::rejected(
            Stage::DataEnd,
            "DATA",
            reply(554),
        )));
        let c = decide(&m, refused.as_ref(), NOW, &s, &cfg);
        assert_eq!(c.state, State::Failed);
        assert!(c.last_error.unwrap().contains("554"));
    }

    #[test]
    fn a_retry_past_the_maximum_age_expires_the_message() {
        let cfg = WorkerConfig::default();
        let s = Settings {
            max_age: Duration::from_secs(10),
            ..Settings::default()
        };
        let busy = Err(SendError::Smtp(SmtpError::rejected(
            Stage::Mail,
            "MAIL",
            reply(451),
        )));
        let c = decide(&claimed(&["b@x"], false), busy.as_ref(), NOW, &s, &cfg);
        assert_eq!(c.state, State::Expired);
        assert!(c.last_error.unwrap().starts_with("expired"));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let (i, m) = (Duration::from_secs(1), Duration::from_secs(8));
        for _ in 0..100 {
            let d = backoff(1, i, m);
            assert!(d >= Duration::from_millis(500) && d <= i);
            let d = backoff(3, i, m);
            assert!(d >= Duration::from_secs(2) && d <= Duration::from_secs(4));
            assert!(backoff(40, i, m) <= m);
        }
    }
}
