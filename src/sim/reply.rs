//! Answers waiting for their time (P2, a responsePending's delay) in front
//! of an ECU's ISO-TP channel, which carries one message at a time.

use std::collections::VecDeque;

use crate::isotp::{IsoTpChannel, IsoTpError};

#[derive(Debug, Default)]
pub(crate) struct ReplyQueue {
    /// In order; each with the time it may leave.
    replies: VecDeque<(u64, Vec<u8>)>,
    /// The channel is sending a message: the next waits for its end.
    busy: bool,
}

impl ReplyQueue {
    pub(crate) fn push(&mut self, due_us: u64, payload: Vec<u8>) {
        self.replies.push_back((due_us, payload));
    }

    /// The channel finished a message (sent or failed): it is free again.
    pub(crate) fn channel_free(&mut self) {
        self.busy = false;
    }

    /// When the next reply may leave, if the channel is free for it.
    pub(crate) fn next_due(&self) -> Option<u64> {
        if self.busy {
            None
        } else {
            self.replies.front().map(|r| r.0)
        }
    }

    /// Hands the replies that are due to the channel, one message at a time.
    pub(crate) fn send_due(&mut self, now_us: u64, isotp: &mut IsoTpChannel) {
        while !self.busy {
            match self.replies.front() {
                Some((due, _)) if *due <= now_us => {}
                _ => break,
            }
            let Some((due, payload)) = self.replies.pop_front() else {
                break;
            };
            match isotp.send(now_us, &payload) {
                Ok(()) => self.busy = true,
                Err(IsoTpError::Busy) => {
                    self.busy = true;
                    self.replies.push_front((due, payload));
                }
                // Empty or oversized: nothing an ECU could send; dropped.
                Err(_) => {}
            }
        }
    }
}
