//! Mail transactions (RFC 5321 §3.3): which commands open, feed, close or reset them.

use super::command;
use super::dialogue::{Dialogue, Kind};
use super::event::Event;
use super::record::{Extreme, Rcpt, Transaction};
use super::verb::Verb;
use crate::tcp::PacketRef;

impl Dialogue {
    /// HELO/EHLO reset the transaction when accepted (RFC 5321 §4.1.4); it is closed now and
    /// reopened if the reply refuses the command (a rejected EHLO keeps the envelope).
    pub(super) fn helo(&mut self, cmd: &command::Command) -> (Kind, Option<usize>) {
        if self.rec.helo_verb.is_none() {
            self.rec.helo_verb = Some(cmd.verb.clone());
            self.rec.helo = Some(cmd.arg.to_string());
        }
        let reset = self.reset_tx(cmd.verb.clone());
        (Kind::Helo { ehlo: cmd.verb == Verb::Ehlo, reset }, reset)
    }

    pub(super) fn mail(&mut self, cmd: &command::Command, at: PacketRef) -> (Kind, Option<usize>) {
        let addr = command::address(&cmd.arg);
        Extreme::raise(&mut self.rec.maxima.sender_address, addr.len() as u64, at);
        let max = self.cfg.max_items;
        Self::bounded(max, 4, &mut self.rec.items_dropped, &mut self.rec.mail_from, addr.clone());
        // A MAIL inside an accepted, open transaction does not start a new one: servers
        // answer 503 (RFC 5321 §4.1.4) and the envelope stays as it was.
        if let Some(t) = self.cur_tx {
            let tx = &mut self.rec.transactions[t];
            if tx.mail_reply.is_some_and(|c| c / 100 == 2) {
                if tx.nested_mail_from.len() < max {
                    tx.nested_mail_from.push(addr);
                }
                return (Kind::Mail { nested: true }, Some(t));
            }
        }
        let tx = self.new_tx(Transaction { mail_from: Some(addr), mail_packet: Some(at), ..Default::default() });
        (Kind::Mail { nested: false }, tx)
    }

    pub(super) fn rcpt(&mut self, cmd: &command::Command, at: PacketRef) -> (Kind, Option<usize>) {
        let addr = command::address(&cmd.arg);
        let max = self.cfg.max_items;
        Self::bounded(max, 4, &mut self.rec.items_dropped, &mut self.rec.rcpt_to, addr.clone());
        let tx = self.cur_tx.or_else(|| self.new_tx(Transaction::default()));
        let Some(t) = tx else {
            return (Kind::Rcpt { index: usize::MAX }, None);
        };
        let tr = &mut self.rec.transactions[t];
        tr.rcpt_count += 1;
        Extreme::raise(&mut self.rec.maxima.rcpt_per_transaction, tr.rcpt_count as u64, at);
        if tr.rcpts.len() >= max {
            self.rec.items_dropped += 1;
            return (Kind::Rcpt { index: usize::MAX }, tx);
        }
        tr.rcpts.push(Rcpt { address: addr, reply: None, packet: at });
        (Kind::Rcpt { index: tr.rcpts.len() - 1 }, tx)
    }

    /// The transaction a DATA or BDAT belongs to; one without MAIL gets an envelope-less one
    /// so its replies are still recorded.
    pub(super) fn tx_for_data(&mut self, verb: Verb) -> Option<usize> {
        let tx = self.cur_tx.or_else(|| self.new_tx(Transaction::default()))?;
        self.rec.transactions[tx].data_verb.get_or_insert(verb);
        Some(tx)
    }

    fn new_tx(&mut self, tx: Transaction) -> Option<usize> {
        if self.rec.transactions.len() >= self.cfg.max_items {
            self.rec.items_dropped += 1;
            return None;
        }
        // Most sessions carry one message: grow one by one, not to four at once (thousands of
        // open sessions hold these while they run).
        if self.rec.transactions.capacity() == 0 {
            self.rec.transactions.reserve_exact(1);
        }
        self.rec.transactions.push(tx);
        self.cur_tx = Some(self.rec.transactions.len() - 1);
        self.cur_tx
    }

    /// Ends the open transaction because of `verb` (RSET, HELO, EHLO); returns it.
    pub(super) fn reset_tx(&mut self, verb: Verb) -> Option<usize> {
        let t = self.cur_tx?;
        self.end_message(false, self.last_at[0]);
        self.rec.transactions[t].reset_by = Some(verb);
        self.close_tx(None)
    }

    /// The reset command was refused: the transaction it closed is open again, unless a newer
    /// one started meanwhile.
    pub(super) fn undo_reset(&mut self, t: usize) {
        if self.cur_tx.is_none() && t + 1 == self.rec.transactions.len() {
            self.rec.transactions[t].reset_by = None;
            self.cur_tx = Some(t);
        }
    }

    pub(super) fn close_tx(&mut self, _why: Option<&str>) -> Option<usize> {
        self.cur_tx.take()
    }

    /// Files the statistics of the message being received into its transaction.
    pub(super) fn end_message(&mut self, terminated: bool, at: PacketRef) {
        let Some(message) = self.message.take() else {
            return;
        };
        let (tx, m) = *message;
        let stats = m.finish(terminated, at);
        self.log.push(Event::Body {
            bytes: stats.bytes,
            lines: stats.lines,
            dot_stuffed_lines: stats.dot_stuffed_lines,
            terminated,
            first_packet: stats.first_packet,
            last_packet: stats.last_packet,
        });
        let mx = &mut self.rec.maxima;
        for (slot, e) in
            [(&mut mx.header_line, &stats.longest_header_line), (&mut mx.body_line, &stats.longest_body_line)]
        {
            if let Some(e) = e {
                Extreme::raise(slot, e.value, e.packet);
            }
        }
        for a in &stats.attachments {
            Extreme::raise(&mut mx.mime_filename, a.filename_len as u64, a.packet);
        }
        if let Some(t) = tx {
            self.rec.transactions[t].body = Some(stats);
        }
    }
}
