//! Message bodies: DATA and BDAT transfers, mid-transfer faults, and acceptance.

use tracing::{debug, warn};

use super::{Flow, Session, SessionError, Transaction};
use crate::fault::{Fault, FaultStage};
use crate::store::{Body, Captured};
use crate::unstuff::DotDecoder;

/// How the end of a message body is found.
enum Framing {
    /// DATA: ends at CRLF.CRLF, with dot-unstuffing.
    Dot(Box<DotDecoder>),
    /// BDAT: a counted chunk.
    Chunk { left: usize },
}

/// How a body transfer ended.
enum Transfer {
    Complete,
    Aborted(Flow),
}

impl Session {
    /// The reason a transaction cannot take a message body now, if any.
    fn body_refusal(&self, bdat: bool) -> Option<(u16, &'static str)> {
        match &self.transaction {
            None => Some((503, "5.5.1 Need MAIL and RCPT first")),
            Some(t) if t.rcpt_to.is_empty() => Some((554, "5.5.1 No valid recipients")),
            Some(t) if !bdat && t.chunked.is_some() => {
                Some((503, "5.5.1 DATA not allowed after BDAT"))
            }
            Some(_) => None,
        }
    }

    pub(super) async fn data(&mut self) -> Result<Flow, SessionError> {
        if let Some((code, text)) = self.body_refusal(false) {
            self.reply(code, text);
            return Ok(Flow::Continue);
        }
        let Some(mut transaction) = self.transaction.take() else {
            return Ok(Flow::Continue);
        };
        let Some((sequence, mut body)) = self.open_body().await else {
            return Ok(Flow::Continue);
        };
        transaction.mid_data = self.shared.faults.arm_mid_data();
        self.reply(354, "End data with <CR><LF>.<CR><LF>");
        let mut framing = Framing::Dot(Box::new(DotDecoder::new()));
        match self
            .receive(&mut framing, &mut body, &mut transaction)
            .await?
        {
            Transfer::Aborted(flow) => Ok(flow),
            Transfer::Complete => {
                self.note_client(&format!(
                    "<message, {} bytes on the wire>",
                    transaction.received
                ));
                self.finish_message(transaction, sequence, body).await
            }
        }
    }

    pub(super) async fn bdat(&mut self, size: usize, last: bool) -> Result<Flow, SessionError> {
        let refusal = if self.shared.cfg.chunking {
            self.body_refusal(true)
        } else {
            Some((502, "5.5.1 BDAT not offered"))
        };
        if let Some((code, text)) = refusal {
            // The chunk follows the command regardless; reading it keeps the stream in step.
            if !self.discard(size).await? {
                return Ok(Flow::Close);
            }
            self.reply(code, text);
            return Ok(Flow::Continue);
        }
        let Some(mut transaction) = self.transaction.take() else {
            return Ok(Flow::Continue);
        };
        let (sequence, mut body) = match transaction.chunked.take() {
            Some(open) => open,
            None => {
                if let Some(fault) = self.shared.faults.take(FaultStage::DataStart) {
                    // A refused chunk is still read, so the stream stays in step for the reply.
                    if matches!(fault, Fault::Reply(..)) && !self.discard(size).await? {
                        return Ok(Flow::Close);
                    }
                    if let Some(flow) = self.fault_flow(fault) {
                        return Ok(flow);
                    }
                }
                let Some(open) = self.open_body().await else {
                    if !self.discard(size).await? {
                        return Ok(Flow::Close);
                    }
                    return Ok(Flow::Continue);
                };
                transaction.mid_data = self.shared.faults.arm_mid_data();
                open
            }
        };
        let mut framing = Framing::Chunk { left: size };
        match self
            .receive(&mut framing, &mut body, &mut transaction)
            .await?
        {
            Transfer::Aborted(flow) => Ok(flow),
            Transfer::Complete if last => {
                self.note_client(&format!("<BDAT chunks, {} bytes>", transaction.received));
                self.finish_message(transaction, sequence, body).await
            }
            Transfer::Complete => {
                self.note_client(&format!("<BDAT chunk, {size} bytes>"));
                transaction.chunked = Some((sequence, body));
                self.transaction = Some(transaction);
                let text = format!("2.0.0 {size} octets received");
                self.reply(250, &text);
                Ok(Flow::Continue)
            }
        }
    }

    /// Opens storage for a new message; on failure answers 451 and returns `None`.
    async fn open_body(&mut self) -> Option<(u64, Body)> {
        let sequence = self.shared.next_sequence();
        let cfg = &self.shared.cfg;
        match Body::open(cfg.dir.as_deref(), sequence, cfg.max_size).await {
            Ok(body) => Some((sequence, body)),
            Err(e) => {
                warn!(connection = self.id, error = %e, "cannot store message");
                self.reply(451, "4.3.0 Local error: cannot store message");
                None
            }
        }
    }

    /// Moves message content from the connection into `body` until the framing says it ended,
    /// firing an armed `MidData` fault at its exact byte count.
    async fn receive(
        &mut self,
        framing: &mut Framing,
        body: &mut Body,
        transaction: &mut Transaction,
    ) -> Result<Transfer, SessionError> {
        let mut content = Vec::new();
        loop {
            if let Some(armed) = transaction.mid_data
                && transaction.received >= armed.after_bytes
            {
                transaction.mid_data = None;
                if let Some(fault) = self.shared.faults.fire(armed) {
                    match fault {
                        Fault::Reply(code, text) => {
                            self.reply(code, &text);
                            return Ok(Transfer::Aborted(Flow::Close));
                        }
                        Fault::Disconnect => return Ok(Transfer::Aborted(Flow::Disconnect)),
                        Fault::Reset => return Ok(Transfer::Aborted(Flow::Reset)),
                        Fault::Stall => return Ok(Transfer::Aborted(Flow::Hang)),
                        Fault::InjectAfterStartTls(bytes) => {
                            self.note_server(&format!("<{} injected bytes>", bytes.len()));
                            self.output.extend_from_slice(&bytes);
                        }
                    }
                }
            }
            if let Framing::Chunk { left: 0 } = framing {
                return Ok(Transfer::Complete);
            }
            if !self.input.is_empty() {
                let budget = transaction.mid_data.map_or(usize::MAX, |armed| {
                    usize::try_from(armed.after_bytes.saturating_sub(transaction.received))
                        .unwrap_or(usize::MAX)
                });
                let window = &self.input[..self.input.len().min(budget)];
                let (consumed, done) = match framing {
                    Framing::Dot(decoder) => decoder.decode(window, &mut content),
                    Framing::Chunk { left } => {
                        let n = window.len().min(*left);
                        content.extend_from_slice(&window[..n]);
                        *left -= n;
                        (n, *left == 0)
                    }
                };
                self.input.drain(..consumed);
                transaction.received += consumed as u64;
                body.write(&content)
                    .await
                    .map_err(|source| SessionError::Io {
                        stage: "storing message content",
                        source,
                    })?;
                content.clear();
                if done {
                    return Ok(Transfer::Complete);
                }
                if consumed > 0 {
                    continue;
                }
            }
            if !self.fill("receiving message content").await? {
                debug!(connection = self.id, "client left during message content");
                return Ok(Transfer::Aborted(Flow::Close));
            }
        }
    }

    async fn finish_message(
        &mut self,
        transaction: Transaction,
        sequence: u64,
        body: Body,
    ) -> Result<Flow, SessionError> {
        if let Some(fault) = self.shared.faults.take(FaultStage::AfterDot)
            && let Some(flow) = self.fault_flow(fault)
        {
            return Ok(flow);
        }
        if body.too_large() {
            self.reply(552, "5.3.4 Message size exceeds fixed maximum message size");
            return Ok(Flow::Continue);
        }
        let stored = match body.finish().await {
            Ok(stored) => stored,
            Err(e) => {
                warn!(connection = self.id, error = %e, "cannot store message");
                self.reply(451, "4.3.0 Local error: cannot store message");
                return Ok(Flow::Continue);
            }
        };
        let captured = Captured {
            mail_from: transaction.mail_from,
            rcpt_to: transaction.rcpt_to,
            tls: self.tls,
            auth_user: self.auth_user.clone(),
            size: stored.size,
            path: stored.path,
            data: stored.data,
        };
        debug!(
            connection = self.id,
            sequence,
            size = captured.size,
            "message captured"
        );
        self.shared.record(captured);
        let text = format!("2.0.0 Ok: queued as {sequence}");
        self.reply(250, &text);
        Ok(Flow::Continue)
    }

    /// Reads and drops `size` bytes of a refused BDAT chunk; false if the client left.
    async fn discard(&mut self, mut size: usize) -> Result<bool, SessionError> {
        loop {
            let n = self.input.len().min(size);
            self.input.drain(..n);
            size -= n;
            if size == 0 {
                return Ok(true);
            }
            if !self.fill("discarding a BDAT chunk").await? {
                return Ok(false);
            }
        }
    }
}
